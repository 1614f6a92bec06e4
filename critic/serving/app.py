"""The Starlette application: routes, JSON errors, the state they share.

Routes (see ``docs/serving.md``): ``POST /get_reward`` (OpenRLHF), ``POST /v1/score``,
``/v1/compare``, ``/v1/rank``, ``/v1/judge`` (critic's records), ``GET /health``, ``GET /metrics``.
Every answer is JSON (``/metrics``: Prometheus text); every error is ``{"error": {"status",
"message"}}`` with a 4xx / 5xx status — a bad request never reaches the judge, and an unexpected
failure is a 500 whose body names the exception's type only (the traceback goes to the server log).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from PIL import Image
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from critic.judging.pair_order import make_comparison
from critic.records import PointwiseItem
from critic.serving.batching import Batcher, Overloaded
from critic.serving.metrics import Metrics
from critic.serving.openrlhf import (
    KNOWN_SPECIAL,
    PADDING,
    ItemIndex,
    LabelError,
    question_from_prompt,
    response_text,
)
from critic.serving.schemas import CompareRequest, JudgeRequest, RankRequest, RewardRequest, ScoreRequest
from critic.serving.security import Limits, RequestError, check_token, resolve_images

log = logging.getLogger("critic.serve")
_TEMPLATE_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass(eq=False)
class ServeState:
    """What the routes share: the critic, its batcher, the limits, the defaults of request options."""

    critic: Any
    batcher: Batcher
    limits: Limits = field(default_factory=Limits)
    token: str | None = None
    items: ItemIndex = field(default_factory=ItemIndex)
    swap: str = "none"
    reward_template: str | None = None
    failure_reward: float = 0.0
    log_rationales: bool = True
    special: tuple[str, ...] = KNOWN_SPECIAL
    padding: tuple[str, ...] = PADDING
    metrics: Metrics = field(default_factory=Metrics)
    in_flight: int = 0
    cache_hits: int = 0

    def on_batch(self, size: int, hits: int, failed: bool) -> None:
        self.cache_hits += hits
        self.metrics.batch(size, failed)

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one state per server; images of the --items file
    def trusted_image(self, path: str) -> Image.Image:
        from critic.media import load_image

        return load_image(path, max_pixels=self.limits.max_image_pixels)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "message": message}}, status_code=status)


async def read_json(request: Request, limit: int) -> Any:
    """The body as JSON: 413 past ``limit`` bytes, 400 when it is not JSON."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > 16 * limit:
        raise RequestError(f"body of {declared} bytes; the limit is {limit}", 413)
    body, size = bytearray(), 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            body += chunk  # past the limit the rest is read and dropped, so the client reads its 413
    if size > limit:
        raise RequestError(f"body over {limit} bytes", 413)
    try:
        return json.loads(bytes(body))
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(f"malformed JSON: {exc}") from None


def _validation_message(exc: ValidationError) -> str:
    parts = [f"{'.'.join(str(x) for x in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:10]]
    return "; ".join(parts)


Handler = Callable[[ServeState, Request], Awaitable[Response]]
#: this request's announcement to the batcher (judging routes), used when it submits its work
_ARRIVAL: ContextVar[Any] = ContextVar("critic_serve_arrival", default=None)


def route(path: str, state: ServeState, fn: Handler, methods: list[str], auth: bool = True,
          judging: bool = False) -> Route:
    """``fn`` behind the token check, the error mapping and the metrics; a ``judging`` route announces its
    request to the batcher until it submits its work (:meth:`critic.serving.batching.Batcher.announce`)."""

    async def endpoint(request: Request) -> Response:
        start = time.perf_counter()
        state.in_flight += 1
        try:
            if auth and not check_token(request.headers.get("authorization"), state.token):
                response: Response = _error(401, "missing or wrong bearer token")
                response.headers["WWW-Authenticate"] = "Bearer"
            else:
                with state.batcher.announce() if judging else nullcontext() as arrival:
                    token = _ARRIVAL.set(arrival)
                    try:
                        response = await fn(state, request)
                    finally:  # a keep-alive connection serves its next request in the same context
                        _ARRIVAL.reset(token)
        except RequestError as exc:
            response = _error(exc.status, str(exc))
        except ValidationError as exc:
            response = _error(422, _validation_message(exc))
        except Overloaded as exc:
            response = _error(503, str(exc))
            response.headers["Retry-After"] = "1"
        except Exception as exc:  # noqa: BLE001 - a JSON 500, never a traceback on the wire
            log.exception("%s failed", path)
            response = _error(500, f"internal error ({type(exc).__name__}); see the server log")
        finally:
            state.in_flight -= 1
        state.metrics.request(path, response.status_code, time.perf_counter() - start)
        return response

    return Route(path, endpoint, methods=methods)


# ------------------------------------------------------------------------------------ helpers

def _template(state: ServeState, name: str | None, task: str | None = None) -> str | None:
    """A template a request names: a shipped or configured template's name, never a path (400)."""
    if name is None:
        return None
    if not _TEMPLATE_NAME.match(name) or name.endswith(".jinja"):
        raise RequestError(f"template {name!r}: give a template name, not a path")
    try:
        t = state.critic._load(name)
    except (OSError, ValueError, KeyError) as exc:
        raise RequestError(f"template {name!r}: {exc}") from None
    if task is not None and t.task != task:
        raise RequestError(f"template {name!r} is {t.task}; these items are {task}")
    return name


def _with_images(items: Sequence[Any], state: ServeState) -> tuple[list[Any], list[list[Image.Image]]]:
    """Items with their images decoded within the limits (refused paths raise before any read)."""
    out, pil = [], []
    for it in items:
        imgs = resolve_images(list(it.images), state.limits) if it.images else []
        pil.append(imgs)
        out.append(it.model_copy(update={"images": [f"<image {i}>" for i in range(len(imgs))]}))
    return out, pil


async def _prepared(items: Sequence[Any], state: ServeState) -> tuple[list[Any], list[list[Image.Image]]]:
    if any(it.images for it in items):
        return await run_in_threadpool(_with_images, items, state)
    return _with_images(items, state)


async def _judge(state: ServeState, items: list[Any], pil: list[Any], swap: str, template: str | None) -> list[Any]:
    fut = state.batcher.submit(items, swap=swap, template=template, pil=pil, arrival=_ARRIVAL.get())
    return await asyncio.wrap_future(fut)


# ------------------------------------------------------------------------------------- routes

async def health(state: ServeState, request: Request) -> Response:
    templates = {}
    for task in ("pointwise", "pairwise"):
        try:
            templates[task] = state.critic.template_for(task).name
        except (OSError, ValueError, KeyError):
            pass
    return JSONResponse({"status": "ok", "judge": getattr(state.critic.backend, "judge_id", "?"),
                         "templates": templates, "in_flight": state.in_flight, "queued": state.batcher.queued})


async def metrics(state: ServeState, request: Request) -> Response:
    text = state.metrics.render(in_flight=state.in_flight, cache_hits=state.cache_hits, queued=state.batcher.queued)
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")


async def score(state: ServeState, request: Request) -> Response:
    body = ScoreRequest.model_validate(await read_json(request, state.limits.max_body_bytes))
    template = _template(state, body.template, "pointwise")
    items, pil = await _prepared(body.items, state)
    results = await _judge(state, items, pil, "none", template)
    return JSONResponse({"judgments": [js[0].to_json_dict() for js in results]})


async def compare(state: ServeState, request: Request) -> Response:
    body = CompareRequest.model_validate(await read_json(request, state.limits.max_body_bytes))
    template = _template(state, body.template, "pairwise")
    items, pil = await _prepared(body.items, state)
    results = await _judge(state, items, pil, body.swap or state.swap, template)
    return JSONResponse({"comparisons": [make_comparison(it.id, js, body.rule).to_json_dict()
                                         for it, js in zip(body.items, results)]})


async def judge(state: ServeState, request: Request) -> Response:
    body = JudgeRequest.model_validate(await read_json(request, state.limits.max_body_bytes))
    tasks = {it.task for it in body.items}
    template = _template(state, body.template, tasks.pop() if len(tasks) == 1 else "mixed")
    items, pil = await _prepared(body.items, state)
    results = await _judge(state, items, pil, body.swap or state.swap, template)
    return JSONResponse({"judgments": [[j.to_json_dict() for j in js] for js in results]})


class _BatchedJudge:
    """What ranking needs of a critic, answered through the batcher (ranking runs in a worker thread)."""

    def __init__(self, state: ServeState, arrival: Any = None) -> None:
        self.state = state
        self.arrival = arrival  # the rank request's announcement, landed with its first batch
        self.backend = type("_Backend", (), {"judge_id": getattr(state.critic.backend, "judge_id", "?")})()

    def judge_stream(self, items, *, swap="none", template=None, pil_images=None, desc="") -> Iterator[Any]:
        fut = self.state.batcher.submit(items, swap=swap, template=template, pil=pil_images, arrival=self.arrival)
        for js in fut.result():
            yield from js


async def rank(state: ServeState, request: Request) -> Response:
    from critic.judging.ranking import rank as rank_sets

    body = RankRequest.model_validate(await read_json(request, state.limits.max_body_bytes))
    if len({s.id for s in body.sets}) != len(body.sets):
        raise RequestError("duplicate candidate set ids")
    template = _template(state, body.template, body.mode)
    sets, pil = await _prepared(body.sets, state)
    given = {s.id: p for s, p in zip(sets, pil)}
    ranked = await run_in_threadpool(rank_sets, _BatchedJudge(state, _ARRIVAL.get()), sets, mode=body.mode,
                                     aggregation=body.aggregation, template=template, pil_images=given)
    return JSONResponse({"rankings": [r.to_json_dict() for r in ranked]})


def _reward_items(state: ServeState, body: RewardRequest) -> tuple[list[PointwiseItem], list[list[Image.Image]]]:
    items, pil = [], []
    for n, query in enumerate(body.query):
        prompt = body.prompts[n] if body.prompts else None
        try:
            info = state.items.resolve(body.labels[n] if body.labels else None, n)
        except LabelError as exc:
            raise RequestError(str(exc)) from None
        if body.images is not None and body.images[n]:
            imgs = resolve_images(body.images[n], state.limits)
        elif info.trusted:
            imgs = [state.trusted_image(p) for p in info.images]
        else:
            imgs = resolve_images(list(info.images), state.limits)
        items.append(PointwiseItem(id=info.id, question=info.question or question_from_prompt(prompt),
                                   reference=info.reference, images=[f"<image {i}>" for i in range(len(imgs))],
                                   response=response_text(query, prompt, state.special, state.padding)))
        pil.append(imgs)
    return items, pil


async def get_reward(state: ServeState, request: Request) -> Response:
    body = RewardRequest.model_validate(await read_json(request, state.limits.max_body_bytes))
    items, pil = await run_in_threadpool(_reward_items, state, body)
    results = await _judge(state, items, pil, "none", state.reward_template)
    js = [r[0] for r in results]
    rewards = [float(j.score) if j.score is not None else state.failure_reward for j in js]
    logs: dict[str, list[Any]] = {"critic_parse_failed": [float(j.parse_error is not None) for j in js],
                                  "critic_failed": [float(j.error is not None) for j in js]}
    if state.log_rationales:
        logs["critic_rationale"] = [j.rationale or j.parse_error or j.error or "" for j in js]
    return JSONResponse({"rewards": rewards, "scores": rewards, "extra_logs": logs})


def build_app(state: ServeState) -> Starlette:
    """The application serving ``state``'s critic; the batcher is closed when the server stops."""

    async def not_found(request: Request, exc: HTTPException) -> Response:
        return _error(exc.status_code, str(exc.detail))

    async def crashed(request: Request, exc: Exception) -> Response:
        return _error(500, f"internal error ({type(exc).__name__})")

    routes = [route("/health", state, health, ["GET"], auth=False), route("/metrics", state, metrics, ["GET"]),
              route("/get_reward", state, get_reward, ["POST"], judging=True),
              route("/v1/score", state, score, ["POST"], judging=True),
              route("/v1/compare", state, compare, ["POST"], judging=True),
              route("/v1/rank", state, rank, ["POST"], judging=True),
              route("/v1/judge", state, judge, ["POST"], judging=True)]
    return Starlette(routes=routes, exception_handlers={HTTPException: not_found, Exception: crashed})

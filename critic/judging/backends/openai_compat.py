"""A backend for any OpenAI-compatible chat-completions server: OpenAI (GPT-4o), vLLM, SGLang.

``OpenAIBackend(model, base_urls=[...]).stream(requests, sampling)`` sends every request through
``openai.AsyncOpenAI`` and yields ``(index, GenResult)`` as each completes.

* **Messages.** HF-layout parts become chat-completions parts
  (:func:`~critic.judging.backends.chat_messages.to_chat_messages`), the i-th image part the data URL
  of ``request.images[i]`` (:func:`critic.media.to_data_url`).
* **Concurrency.** An asyncio loop runs in a dedicated background thread (so ``stream`` works from
  scripts and from inside a running loop, e.g. Jupyter) with ``concurrency`` workers pulling from the
  request list — at most ``concurrency`` requests are in flight, and memory stays bounded however
  many requests there are. Results come back through a queue in completion order. One client per
  base URL; requests start on the URLs in round robin. ``rpm`` spaces request starts at least
  ``60/rpm`` s apart (SDK retries are not paced).
* **Retries.** The SDK retries connection errors, timeouts, 408, 409, 429 and 5xx ``max_retries``
  times with exponential backoff (0.5 s · 2^n, at most 8 s, minus up to 25 % jitter) and honours
  ``Retry-After`` / ``retry-after-ms`` up to 120 s. It does *not* retry a 200 response whose body is
  malformed JSON (it raises ``json.JSONDecodeError``) or has empty content, so this module retries
  those itself, with the same budget and backoff. A connection error or timeout that outlasts the
  SDK's retries moves the request to the next base URL (each URL tried once) before it fails.
* **Failures.** A request that still fails yields ``GenResult(error="HTTP 500: ...")`` and the others
  go on. 401 / 403 / 404 (bad key, no permission, unknown model or wrong base URL) are never retried:
  :class:`~critic.judging.backends.base.BackendFatalError` is raised and the stream stops. Empty content
  (None or blank) is a failure, ``error="empty content"``, never an empty verdict. A server that is
  down or broken stops the stream too: after ``max_consecutive_failures`` requests in a row fail the
  same way (connection refused, timeout, 5xx, 429, malformed bodies) after their retries,
  ``BackendFatalError`` names the server and the cause instead of every request spending its retries.
* **Cache.** Not this module's business: wrap the backend in
  :class:`~critic.judging.backends.cached.CachedBackend`, which keys a request without its own ``key``
  by :meth:`OpenAIBackend.cache_key`.
* **Image reuse.** Inside ``with backend.reuse_images():`` each distinct image (by its hash and the
  encoding settings) is encoded to a data URL once and the URL reused, for requests that carry
  ``image_hashes`` — a K-candidate tournament sends the same image K·(K−1) times.
* **Cost.** ``prompt_tokens * in / 1e6 + completion_tokens * out / 1e6`` USD with ``price_per_mtok =
  (in, out)``, or the built-in :data:`PRICES_PER_MTOK` entry for the model; None when unknown.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import os
import queue
import random
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import openai

from critic.judging.backends.base import BackendFatalError, GenRequest, GenResult, SamplingParams
from critic.judging.backends.cache import JudgeCache
from critic.judging.backends.chat_messages import ImageUrlMemo, to_chat_messages
from critic.judging.backends.openai_errors import Fatal, Streak, fatal_message, status_error
from critic.judging.backends.token_logprobs import read_logprobs
from critic.media import ImageFormat, MediaError, image_hash, to_data_url
from critic.secrets import redact, redact_url

#: USD per million (input, output) tokens, standard API tier, as published by OpenAI. A model
#: matches an entry when its name equals it or extends it with ``-...`` (longest entry wins).
PRICES_PER_MTOK: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-2024-05-13": (5.00, 15.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
}


def price_for(model: str) -> tuple[float, float] | None:
    """The built-in price of ``model`` (provider prefixes like ``openai/`` ignored), or None.

    >>> price_for("gpt-4o-mini-2024-07-18")
    (0.15, 0.6)
    >>> price_for("Qwen/Qwen2-VL-7B-Instruct") is None
    True
    """
    name = model.rsplit("/", 1)[-1]
    matches = [p for p in PRICES_PER_MTOK if name == p or name.startswith(p + "-")]
    return PRICES_PER_MTOK[max(matches, key=len)] if matches else None


class _Pacer:
    """Spaces request starts at least ``60 / rpm`` seconds apart (a token bucket of capacity 1)."""

    def __init__(self, rpm: int) -> None:
        self.interval = 60.0 / rpm
        self._next = 0.0

    async def wait(self) -> None:
        now = asyncio.get_running_loop().time()
        start = max(now, self._next)
        self._next = start + self.interval  # no await between read and write: safe in one loop
        if start > now:
            await asyncio.sleep(start - now)


def _backoff(attempt: int, base: float) -> float:
    """The SDK's schedule: ``min(base * 2**(attempt-1), 8) * (1 - 0.25 * U[0,1))`` seconds."""
    return min(base * 2 ** (attempt - 1), 8.0) * (1 - 0.25 * random.random())


_DONE = object()


@dataclass
class _Crash:
    exc: BaseException


class OpenAIBackend:
    """Generation through an OpenAI-compatible API; ``judge_id`` is ``"openai:<model>"``.

    ``api_key`` falls back to ``$OPENAI_API_KEY``, then ``"EMPTY"`` (local vLLM / SGLang servers);
    ``base_urls`` to ``$OPENAI_BASE_URL``, then ``https://api.openai.com/v1``. ``timeout`` is per
    HTTP attempt in seconds. ``max_tokens_field`` names the length limit sent
    (``"max_completion_tokens"`` for OpenAI reasoning models). ``extra_body`` is merged into every
    request body (e.g. vLLM's ``{"top_k": 1}``). ``retry_base_delay`` is the first wait (seconds)
    of this module's own retries (malformed / empty bodies); the SDK's own schedule is fixed.
    """

    retry_base_delay: float = 0.5

    def __init__(
        self,
        model: str,
        *,
        base_urls: Sequence[str] | str | None = None,
        api_key: str | None = None,
        concurrency: int = 16,
        timeout: float = 120.0,
        max_retries: int = 6,
        max_image_side: int = 1536,
        max_image_bytes: int = 4_000_000,
        image_format: ImageFormat = "auto",
        image_detail: str | None = None,
        price_per_mtok: tuple[float, float] | None = None,
        rpm: int | None = None,
        extra_body: dict[str, Any] | None = None,
        max_tokens_field: str = "max_tokens",
        max_consecutive_failures: int = 10,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if isinstance(base_urls, str):
            base_urls = [base_urls]
        self.model = model
        self.judge_id = f"openai:{model}"
        self.base_urls = list(base_urls or [os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"])
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_image_side = max_image_side
        self.max_image_bytes = max_image_bytes
        self.image_format: ImageFormat = image_format
        self.image_detail = image_detail
        self.price_per_mtok = price_per_mtok if price_per_mtok is not None else price_for(model)
        self.rpm = rpm
        self.extra_body = dict(extra_body) if extra_body else None
        self.max_tokens_field = max_tokens_field
        self.max_consecutive_failures = max_consecutive_failures
        self._image_urls: ImageUrlMemo | None = None

    def __repr__(self) -> str:
        return f"OpenAIBackend({self.model!r}, base_urls={redact(self.base_urls)!r}, concurrency={self.concurrency})"

    # -- building requests -------------------------------------------------------------------

    def sampling_kwargs(self, sampling: SamplingParams) -> dict[str, Any]:
        """``temperature``, ``top_p``, the length limit and ``seed`` (only when set)."""
        kw: dict[str, Any] = {
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            self.max_tokens_field: sampling.max_new_tokens,
        }
        if sampling.seed is not None:
            kw["seed"] = sampling.seed
        if sampling.top_logprobs is not None:  # --verdict-probs: only then, so other requests are unchanged
            kw.update(logprobs=True, top_logprobs=sampling.top_logprobs)
        return kw

    def cache_settings(self) -> dict[str, Any]:
        """Settings besides the prompt and sampling that change the answer: every cache key covers them."""
        return {"extra_body": self.extra_body,
                "images": [self.max_image_side, self.max_image_bytes, self.image_format, self.image_detail]}

    def cache_key(self, request: GenRequest, sampling: SamplingParams) -> str:
        """``request.key`` if set, else the hash of judge id, messages, image hashes, sampling,
        ``extra_body`` and the image encoding settings."""
        if request.key:
            return request.key
        hashes = list(request.image_hashes) or [image_hash(im) for im in request.images]
        return JudgeCache.key(
            judge=self.judge_id,
            messages=request.messages,
            image_hashes=hashes,
            sampling=sampling.to_dict(),
            **self.cache_settings(),
        )

    def _data_url(self, image: Any) -> str:
        return to_data_url(image, max_side=self.max_image_side, max_bytes=self.max_image_bytes,
                           format=self.image_format)

    def chat_messages(self, request: GenRequest) -> list[dict[str, Any]]:
        """The request's messages in chat-completions form, images encoded as data URLs."""
        memo = self._image_urls
        if memo is not None and len(request.image_hashes) == len(request.images):
            settings = (self.max_image_side, self.max_image_bytes, self.image_format)
            urls = [memo.get((h, *settings), functools.partial(self._data_url, im))
                    for im, h in zip(request.images, request.image_hashes)]
        else:
            urls = [self._data_url(im) for im in request.images]
        return to_chat_messages(request.messages, urls, detail=self.image_detail)

    @contextlib.contextmanager
    def reuse_images(self, max_images: int = 512) -> Iterator[None]:
        """While active, each distinct image is encoded to a data URL once (see the module doc).

        The memo keeps the ``max_images`` most recently added URLs and is dropped when the block
        ends; a block inside another one uses the outer memo.
        """
        if self._image_urls is not None:
            yield
            return
        self._image_urls = ImageUrlMemo(max_images)
        try:
            yield
        finally:
            self._image_urls = None

    def _cost(self, prompt_tokens: int, completion_tokens: int) -> float | None:
        if self.price_per_mtok is None:
            return None
        p_in, p_out = self.price_per_mtok
        return (prompt_tokens * p_in + completion_tokens * p_out) / 1e6

    # -- the stream --------------------------------------------------------------------------

    def stream(
        self, requests: Sequence[GenRequest], sampling: SamplingParams
    ) -> Iterator[tuple[int, GenResult]]:
        """Yield ``(index, result)`` for every request as it completes."""
        pending = list(range(len(requests)))
        if not pending:
            return
        out: queue.Queue[Any] = queue.Queue()
        loop = asyncio.new_event_loop()
        task = loop.create_task(self._run(requests, pending, sampling, out))
        thread = threading.Thread(
            target=_run_loop, args=(loop, task, out), daemon=True, name="openai-backend"
        )
        thread.start()
        try:
            while True:
                item = out.get()
                if item is _DONE:
                    break
                if isinstance(item, _Crash):
                    if isinstance(item.exc, Fatal):
                        raise BackendFatalError(redact_url(str(item.exc))) from None  # no key in messages (14.15)
                    raise item.exc
                yield item
        finally:
            if thread.is_alive():
                try:
                    loop.call_soon_threadsafe(task.cancel)
                except RuntimeError:  # the loop closed in between
                    pass
            thread.join()

    async def _run(
        self,
        requests: Sequence[GenRequest],
        pending: list[int],
        sampling: SamplingParams,
        out: queue.Queue[Any],
    ) -> None:
        clients = [
            openai.AsyncOpenAI(
                base_url=url, api_key=self.api_key, timeout=self.timeout, max_retries=self.max_retries
            )
            for url in self.base_urls
        ]
        todo = iter(pending)  # shared by the workers: next() never awaits, so no lock is needed
        turn = itertools.count()
        pacer = _Pacer(self.rpm) if self.rpm else None
        base = {"model": self.model, **self.sampling_kwargs(sampling)}
        if self.extra_body:
            base["extra_body"] = self.extra_body

        streak = Streak(self.max_consecutive_failures, self.base_urls)

        async def worker() -> None:
            for i in todo:
                result = await self._one(clients, next(turn), pacer, requests[i], base)
                out.put((i, result))
                streak.see(result)  # raises Fatal when the server looks down

        tasks = [asyncio.ensure_future(worker()) for _ in range(min(self.concurrency, len(pending)))]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for c in clients:
                await c.close()

    async def _one(
        self,
        clients: list[openai.AsyncOpenAI],
        start: int,
        pacer: _Pacer | None,
        request: GenRequest,
        base: dict[str, Any],
    ) -> GenResult:
        try:
            messages = await asyncio.to_thread(self.chat_messages, request)
        except (MediaError, ValueError) as exc:
            return GenResult(text=None, error=f"bad request: {exc}")
        failovers = bad_bodies = 0
        while True:
            client = clients[(start + failovers) % len(clients)]
            if pacer is not None:
                await pacer.wait()
            try:
                resp = await client.chat.completions.create(messages=messages, **base)
            except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError) as exc:
                raise Fatal(fatal_message(exc, self.model, str(client.base_url))) from None
            except openai.APIConnectionError as exc:  # includes APITimeoutError; SDK retries are spent
                failovers += 1
                if failovers < len(clients):
                    continue
                kind = "timeout" if isinstance(exc, openai.APITimeoutError) else "connection error"
                return GenResult(
                    text=None, error=f"{kind} after {self.max_retries} retries ({client.base_url}): {exc}"
                )
            except openai.APIStatusError as exc:
                return GenResult(text=None, error=status_error(exc, self.max_retries))
            except (json.JSONDecodeError, UnicodeDecodeError, openai.APIResponseValidationError) as exc:
                problem = f"malformed response body ({type(exc).__name__}: {exc})"
            else:
                result, problem, retry = self._parse(resp)
                if result is not None:
                    return result
                if not retry:
                    return GenResult(text=None, error=problem)
            bad_bodies += 1
            if bad_bodies > self.max_retries:
                return GenResult(text=None, error=f"{problem} (after {self.max_retries} retries)")
            await asyncio.sleep(_backoff(bad_bodies, self.retry_base_delay))

    def _parse(self, resp: Any) -> tuple[GenResult | None, str, bool]:
        """(result, problem, retryable) for a 200 response; result None when it is unusable."""
        if isinstance(resp, str):  # the SDK returns the text of a non-JSON content type
            return None, "malformed response body (not JSON)", True
        try:
            choice = resp.choices[0]
            content = choice.message.content
            finish = choice.finish_reason
            usage = resp.usage
            pt = int(getattr(usage, "prompt_tokens", 0) or 0)
            ct = int(getattr(usage, "completion_tokens", 0) or 0)
        except (AttributeError, IndexError, TypeError, ValueError) as exc:
            return None, f"malformed response body ({type(exc).__name__}: {exc})", True
        if not isinstance(content, str) or not content.strip():
            if finish in ("length", "content_filter"):  # deterministic: asking again gives the same
                return None, f"empty content (finish_reason={finish})", False
            return None, "empty content", True
        return (
            GenResult(text=content, prompt_tokens=pt, completion_tokens=ct, cost=self._cost(pt, ct),
                      logprobs=read_logprobs(getattr(choice, "logprobs", None))),
            "",
            False,
        )


def _run_loop(loop: asyncio.AbstractEventLoop, task: asyncio.Task[None], out: queue.Queue[Any]) -> None:
    """Thread body: run ``task`` to the end on ``loop``, report a crash, always finish with _DONE."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(task)
    except asyncio.CancelledError:
        pass
    except BaseException as exc:  # handed to the consuming thread, which re-raises it
        out.put(_Crash(exc))
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()
            out.put(_DONE)

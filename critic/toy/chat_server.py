"""A loopback HTTP server speaking the OpenAI chat-completions protocol, with fault injection.

It stands in for GPT-4o / vLLM in tests, in the oracle teacher and in benchmarks: real sockets, real
HTTP/1.1 (keep-alive), one thread per connection (``ThreadingHTTPServer``), standard library only.

    with ChatServer(lambda request_json, images: "ok", faults=FaultConfig(rate_429=0.1)) as srv:
        client = OpenAI(base_url=srv.base_url, api_key="x")   # srv.base_url: http://127.0.0.1:PORT/v1

* ``POST /v1/chat/completions``: ``answer_fn(request_json, images)`` gives the assistant content;
  ``images`` are the ``image_url`` data URLs of the request decoded in order (:mod:`critic.media`).
  The reply is a regular ``chat.completion`` object; ``usage`` counts whitespace-separated words
  (prompt: all text parts + 85 per image; completion: the content).
* ``GET /v1/models``: the served model names.
* A request the server cannot read (not JSON, ``messages`` not a list of messages, a bad image) gets
  400 with a JSON error naming the problem (:mod:`critic.toy.chat_requests`).
* ``api_key`` set: a request without ``Authorization: Bearer <api_key>`` gets 401. ``models`` set: a
  request for another model gets 404 (``model_not_found``).

Faults (:class:`FaultConfig`) are drawn per chat request: the first ``len(first)`` requests take
the listed outcomes in arrival order, the others draw one from a seeded RNG with the given rates.
Outcomes: ``ok``, ``429`` (with ``Retry-After``), ``500``, ``slow`` (sleeps ``slow_delay`` first),
``malformed`` (truncated JSON body, status 200), ``empty`` (``content: ""``). ``srv.stats`` counts
the outcomes served and the largest number of chat requests in flight at once.

Run standalone: ``python -m critic.toy.chat_server --port 8000`` (echoes the last user text).
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from PIL import Image

from critic.media import MediaError
from critic.toy.chat_requests import request_images, request_problem, usage
from critic.toy.toy_logprobs import toy_logprobs

AnswerFn = Callable[[dict[str, Any], list[Image.Image]], str]
OUTCOMES = ("ok", "429", "500", "slow", "malformed", "empty")


@dataclass
class FaultConfig:
    """Fault injection for chat requests; rates are probabilities in [0, 1] summing to at most 1."""

    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_slow: float = 0.0
    rate_malformed: float = 0.0
    rate_empty: float = 0.0
    retry_after: float = 0.05
    slow_delay: float = 1.0
    first: Sequence[str] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        rates = self._rates()
        if any(r < 0 or r > 1 for _, r in rates) or sum(r for _, r in rates) > 1 + 1e-9:
            raise ValueError(f"fault rates must be in [0, 1] and sum to at most 1: {dict(rates)}")
        bad = [o for o in self.first if o not in OUTCOMES]
        if bad:
            raise ValueError(f"unknown outcomes {bad}; choose from {OUTCOMES}")
        if not (self.retry_after >= 0 and self.slow_delay >= 0):
            raise ValueError(f"retry_after and slow_delay are seconds, at least 0: {self.retry_after}, {self.slow_delay}")

    def _rates(self) -> list[tuple[str, float]]:
        return [
            ("429", self.rate_429),
            ("500", self.rate_500),
            ("slow", self.rate_slow),
            ("malformed", self.rate_malformed),
            ("empty", self.rate_empty),
        ]


@dataclass
class ServerStats:
    """What the server has seen: ``outcomes`` counts chat requests by outcome (plus ``401``,
    ``404``, ``400`` for rejected ones); ``max_in_flight`` is the peak of concurrent chat requests."""

    requests: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    max_in_flight: int = 0
    models_listed: int = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes
    timeout = 120  # idle keep-alive connections are closed after this many seconds
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            self.close_connection = True

    def _error(self, status: int, message: str, type_: str, code: str | None = None, **hdr: str) -> None:
        body = {"error": {"message": message, "type": type_, "param": None, "code": code}}
        self._send(status, json.dumps(body).encode(), hdr)

    def _authorised(self) -> bool:
        key = self.server.owner.api_key
        if key is None or self.headers.get("Authorization", "") == f"Bearer {key}":
            return True
        self.server.owner._count("401")
        self._error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        return False

    def do_GET(self) -> None:
        if self.path.rstrip("/") != "/v1/models":
            self._error(404, f"no route {self.path}", "invalid_request_error")
            return
        if not self._authorised():
            return
        owner = self.server.owner
        with owner._lock:
            owner.stats.models_listed += 1
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "critic"} for m in owner.model_names()]
        self._send(200, json.dumps({"object": "list", "data": data}).encode())

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True  # the body's end is unknown: this connection cannot carry another request
            self.server.owner._count("400")
            self._error(400, "bad request: Content-Length must be a whole number", "invalid_request_error")
            return
        raw = self.rfile.read(length) if length else b""
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._error(404, f"no route {self.path}", "invalid_request_error")
            return
        if not self._authorised():
            return
        owner = self.server.owner
        try:
            body = json.loads(raw)
            problem = request_problem(body)
            if problem is not None:
                raise ValueError(problem)
            images = request_images(body)
        except (ValueError, MediaError) as exc:
            owner._count("400")
            self._error(400, f"bad request: {exc}", "invalid_request_error")
            return
        model = body.get("model", "")
        if owner.models is not None and model not in owner.models:
            owner._count("404")
            self._error(
                404, f"The model `{model}` does not exist.", "invalid_request_error", "model_not_found"
            )
            return
        owner._enter()
        try:
            self._complete(body, images, owner.draw())
        finally:
            owner._leave()

    def _complete(self, body: dict[str, Any], images: list[Image.Image], outcome: str) -> None:
        owner = self.server.owner
        faults = owner.faults
        owner._count(outcome)
        if outcome == "429":
            self._error(
                429,
                "Rate limit reached.",
                "requests",
                "rate_limit_exceeded",
                **{"Retry-After": f"{faults.retry_after:g}"},
            )
            return
        if outcome == "500":
            self._error(500, "The server had an error while processing your request.", "server_error")
            return
        if owner.latency > 0:
            time.sleep(owner.latency)
        if outcome == "slow":
            time.sleep(faults.slow_delay)
        try:
            content = "" if outcome == "empty" else owner.answer_fn(body, images)
        except Exception as exc:  # the answer function failing is the server failing
            owner._count("answer_error")
            self._error(500, f"answer_fn failed: {type(exc).__name__}: {exc}", "server_error")
            return
        reply = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                    "logprobs": toy_logprobs(content, int(body.get("top_logprobs") or 0))
                    if body.get("logprobs") else None,  # asked for (--verdict-probs): critic.toy.toy_logprobs
                }
            ],
            "usage": usage(body, content, len(images)),
        }
        payload = json.dumps(reply).encode()
        if outcome == "malformed":
            payload = payload[: max(1, len(payload) // 2)]
        self._send(200, payload)


class BindError(OSError):
    """The server cannot listen where it was asked to (the message says where and why)."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default listen backlog of 5 drops bursts of new connections
    owner: ChatServer


class ChatServer:
    """The server as a context manager: ``with ChatServer(fn) as srv: srv.base_url``.

    ``latency`` seconds are slept before every answer (a model's generation time). ``port=0``
    picks a free port. ``start()`` / ``stop()`` work without ``with``.
    """

    def __init__(
        self,
        answer_fn: AnswerFn,
        *,
        faults: FaultConfig | None = None,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        models: Sequence[str] | None = None,
    ) -> None:
        self.answer_fn = answer_fn
        self.faults = faults or FaultConfig()
        self.latency = latency
        self.api_key = api_key
        self.models = list(models) if models is not None else None
        self.stats = ServerStats()
        self._lock = threading.Lock()
        self._rng = random.Random(self.faults.seed)
        self._drawn = 0
        try:
            self._httpd = _Server((host, port), _Handler, bind_and_activate=True)
        except (OSError, OverflowError) as exc:  # the port is taken or out of range, the host is not ours
            raise BindError(f"cannot listen on {host}:{port}: {getattr(exc, 'strerror', None) or exc}") from exc
        self._httpd.owner = self
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def model_names(self) -> list[str]:
        return self.models if self.models is not None else ["critic-chat-server"]

    def draw(self) -> str:
        """The outcome of the next chat request (scripted ``first`` ones, then seeded draws)."""
        with self._lock:
            n = self._drawn
            self._drawn += 1
            if n < len(self.faults.first):
                return self.faults.first[n]
            u = self._rng.random()
        acc = 0.0
        for outcome, rate in self.faults._rates():
            acc += rate
            if u < acc:
                return outcome
        return "ok"

    def _count(self, outcome: str) -> None:
        with self._lock:
            self.stats.requests += 1
            self.stats.outcomes[outcome] += 1

    def _enter(self) -> None:
        with self._lock:
            self.stats.in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)

    def _leave(self) -> None:
        with self._lock:
            self.stats.in_flight -= 1

    def start(self) -> ChatServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                daemon=True,
                name="chat-server",
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> ChatServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def echo_answer(body: dict[str, Any], images: list[Image.Image]) -> str:
    """The last user text, prefixed with the image sizes: a default answer for smoke runs."""
    text = ""
    for msg in body.get("messages") or []:
        c = msg.get("content")
        if msg.get("role") == "user":
            text = (
                c if isinstance(c, str) else " ".join(p.get("text", "") for p in c if p.get("type") == "text")
            )
    sizes = " ".join(f"[image {w}x{h}]" for w, h in (im.size for im in images))
    return f"{sizes} {text}".strip()


def serve_forever(
    answer_fn: AnswerFn = echo_answer,
    host: str = "127.0.0.1",
    port: int = 8000,
    faults: FaultConfig | None = None,
    latency: float = 0.0,
    *,
    api_key: str | None = None,
    models: Sequence[str] | None = None,
) -> None:
    """Serve in the calling thread until interrupted (Ctrl-C)."""
    srv = ChatServer(
        answer_fn, faults=faults, latency=latency, host=host, port=port, api_key=api_key, models=models
    )
    print(f"serving chat completions on {srv.base_url}", flush=True)
    try:
        srv._httpd.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv._httpd.server_close()


def add_server_args(parser: argparse.ArgumentParser) -> None:
    """The options shared by every command that starts a chat server (host, port, faults...)."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds slept before each answer")
    parser.add_argument("--api-key", default=None, help="require this bearer key (401 otherwise)")
    for name in ("429", "500", "slow", "malformed", "empty"):
        parser.add_argument(f"--rate-{name}", type=float, default=0.0, help=f"probability of a {name} fault")
    parser.add_argument("--retry-after", type=float, default=0.05)
    parser.add_argument("--slow-delay", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)


def faults_from_args(args: argparse.Namespace) -> FaultConfig:
    return FaultConfig(
        rate_429=args.rate_429,
        rate_500=args.rate_500,
        rate_slow=args.rate_slow,
        rate_malformed=args.rate_malformed,
        rate_empty=args.rate_empty,
        retry_after=args.retry_after,
        slow_delay=args.slow_delay,
        seed=args.seed,
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A loopback chat-completions server (echo answers).")
    add_server_args(parser)
    args = parser.parse_args(argv)
    serve_forever(
        echo_answer, args.host, args.port, faults_from_args(args), args.latency, api_key=args.api_key
    )


if __name__ == "__main__":
    main()

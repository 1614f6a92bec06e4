"""Running the server: from a judge to a listening socket, and back down on SIGTERM.

:func:`make_state` builds the judge (:func:`critic.judging.factory.make_critic`), its batcher and
the server's limits; :func:`serve` binds and runs uvicorn in the foreground. uvicorn handles SIGTERM
and SIGINT: it stops accepting, lets every request in flight finish, then runs the app's shutdown,
which drains the batcher. :class:`ServerThread` runs the same server in a thread on a free loopback
port (tests, benchmarks, notebooks).

The token rule: a server bound to anything but loopback refuses to start without a bearer token
(:class:`ServeConfigError`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from critic.serving.app import ServeState, build_app
from critic.serving.batching import ARRIVAL_GRACE, Batcher
from critic.serving.openrlhf import ItemIndex, tokenizer_specials
from critic.serving.security import Limits, is_loopback

log = logging.getLogger("critic.serve")


class ServeConfigError(ValueError):
    """The server cannot start as configured (no token on a public address, a bad items file)."""


@dataclass
class ServeOptions:
    """How the server runs, beside which judge it serves."""

    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    limits: Limits = field(default_factory=Limits)
    items: str | None = None
    policy_tokenizer: str | None = None
    max_batch: int = 32
    max_wait_ms: float = 10.0
    workers: int = 1
    swap: str = "none"
    reward_template: str | None = None
    failure_reward: float = 0.0
    log_rationales: bool = True
    access_log: bool = False


def check_binding(host: str, token: str | None) -> None:
    if not is_loopback(host) and not token:
        raise ServeConfigError(f"binding {host} serves other machines: set a bearer token (--api-key-env VAR, "
                               "the variable holding it) or bind 127.0.0.1")


def make_state(critic: Any, options: ServeOptions) -> ServeState:
    """The routes' shared state around ``critic`` (its batcher started)."""
    check_binding(options.host, options.token)
    try:
        items = ItemIndex.load(options.items) if options.items else ItemIndex()
    except (OSError, ValueError) as exc:
        raise ServeConfigError(f"--items: {exc}") from None
    state = ServeState(critic=critic, batcher=None,  # type: ignore[arg-type]
                       limits=options.limits, token=options.token, items=items, swap=options.swap,
                       reward_template=options.reward_template, failure_reward=options.failure_reward,
                       log_rationales=options.log_rationales)
    if options.policy_tokenizer:
        try:
            state.special, state.padding = tokenizer_specials(options.policy_tokenizer)
        except (OSError, ValueError) as exc:
            raise ServeConfigError(f"--policy-tokenizer {exc}") from None
    api_judge = str(getattr(getattr(critic, "backend", None), "judge_id", "")).startswith("openai:")
    state.batcher = Batcher(critic, max_batch=options.max_batch, max_wait=options.max_wait_ms / 1000,
                            workers=options.workers, on_batch=state.on_batch,
                            arrival_grace=1 if api_judge else ARRIVAL_GRACE)
    return state


def _app(state: ServeState) -> Any:
    app = build_app(state)

    @contextlib.asynccontextmanager
    async def lifespan(_: Any):
        yield
        state.batcher.close()  # after uvicorn has answered every request in flight

    app.router.lifespan_context = lifespan
    return app


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _config(state: ServeState, options: ServeOptions) -> Any:
    import uvicorn

    return uvicorn.Config(_app(state), log_level="info" if options.access_log else "warning",
                          access_log=options.access_log, timeout_keep_alive=30, lifespan="on",
                          server_header=False)


def serve(state: ServeState, options: ServeOptions, *, ready: Any = None) -> None:
    """Run in the foreground until SIGTERM / SIGINT (then drain and return)."""
    import uvicorn

    sock = bind(options.host, options.port)
    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(_config(state, options))
    if ready is not None:
        ready(host, port)
    # uvicorn re-raises the signal it stopped on once it has drained; answered, it is a clean exit (0)
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class ServerThread:
    """The server in a daemon thread on ``host`` (a free port unless given): ``.base_url``, ``.stop()``."""

    def __init__(self, critic: Any, options: ServeOptions | None = None, **kw: Any) -> None:
        import uvicorn

        self.options = options or ServeOptions(port=0, **kw)
        self.state = make_state(critic, self.options)
        self._sock = bind(self.options.host, self.options.port)
        self.host, self.port = self._sock.getsockname()[:2]
        self._server = uvicorn.Server(_config(self.state, self.options))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True,
                                        name="critic-serve")

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ServerThread:
        import time

        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(30)
        self.state.batcher.close(5)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def token_from_env(var: str | None) -> str | None:
    """The bearer token in ``$var`` (None when no variable is named); an empty or unset named variable is an error."""
    if var is None:
        return None
    value = os.environ.get(var, "")
    if not value:
        raise ServeConfigError(f"--api-key-env {var}: the variable is unset or empty")
    return value

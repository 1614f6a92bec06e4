"""How the OpenAI-compatible backend words its failures, and when it gives up on a server.

:class:`Streak` counts requests that fail in a row the same server-side way; the limit-th raises
:class:`Fatal`, which the backend turns into :class:`~critic.judging.backends.base.BackendFatalError`.
"""

from __future__ import annotations

from collections.abc import Sequence

import openai

from critic.judging.backends.generation import GenResult


class Fatal(Exception):
    """Raised inside the loop to stop the whole stream (becomes BackendFatalError)."""


class Streak:
    """Counts requests failing in a row the same server-side way; the ``limit``-th stops the stream."""

    KINDS = ("connection error", "timeout", "HTTP 5", "HTTP 429", "malformed response body")

    def __init__(self, limit: int, urls: Sequence[str]) -> None:
        self.limit, self.urls, self.kind, self.n = limit, urls, "", 0

    def see(self, result: GenResult) -> None:
        if result.error is None:
            self.kind, self.n = "", 0
            return
        kind = next((k for k in self.KINDS if result.error.startswith(k)), None)
        if kind is None:  # a problem of this request (bad image, 400): says nothing about the server
            return
        self.n = self.n + 1 if kind == self.kind else 1
        self.kind = kind
        if self.limit and self.n >= self.limit:
            raise Fatal(f"{', '.join(self.urls)}: {self.n} requests in a row failed after their retries "
                         f"({kind.replace('HTTP 5', 'HTTP 5xx')}); the server looks down or broken, stopping. "
                         f"Last error: {result.error}")


def fatal_message(exc: openai.APIStatusError, model: str, base_url: str) -> str:
    hint = {
        401: "authentication failed: check the API key (api_key= or $OPENAI_API_KEY)",
        403: "permission denied: the key may not use this model or endpoint",
        404: f"model {model!r} not found, or the base URL is wrong (it usually ends in /v1)",
    }.get(exc.status_code, "request refused")
    return f"{base_url}: HTTP {exc.status_code}, {hint}. Server said: {exc.message}"


def status_error(exc: openai.APIStatusError, max_retries: int) -> str:
    """``HTTP <code> [after N retries]: <server message>`` (the SDK's ``Error code: N - `` prefix dropped)."""
    message = exc.message
    prefix = f"Error code: {exc.status_code} - "
    if message.startswith(prefix):
        message = message[len(prefix) :]
    retried = exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return f"HTTP {exc.status_code}{f' after {max_retries} retries' if retried else ''}: {message}"

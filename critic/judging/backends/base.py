"""The contract between the judge and a generation backend: :class:`Backend`, its fatal error, :func:`generate_all`.

The values it passes (:class:`SamplingParams`, :class:`GenRequest`, :class:`GenResult`) are defined in
:mod:`critic.judging.backends.generation` and re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from critic.judging.backends.generation import GenRequest, GenResult, SamplingParams

__all__ = ["Backend", "BackendFatalError", "GenRequest", "GenResult", "SamplingParams", "generate_all"]


class Backend(Protocol):
    """A generation backend. ``judge_id`` names the model for judgments and cache keys."""

    @property
    def judge_id(self) -> str: ...

    def stream(self, requests: Sequence[GenRequest], sampling: SamplingParams) -> Iterator[tuple[int, GenResult]]:
        """Complete every request, yielding ``(index, result)`` as each finishes (any order).

        One bad request yields a result with ``error`` set; it never stops the others. Errors that
        make every request fail (bad API key, unknown model) raise :class:`BackendFatalError`.
        """
        ...


class BackendFatalError(RuntimeError):
    """A failure no retry or other request can fix: bad credentials, unknown model, bad base URL."""


def generate_all(backend: Backend, requests: Sequence[GenRequest], sampling: SamplingParams) -> list[GenResult]:
    """Run :meth:`Backend.stream` to the end and return results in request order."""
    out: list[GenResult | None] = [None] * len(requests)
    for i, res in backend.stream(requests, sampling):
        out[i] = res
    missing = [i for i, r in enumerate(out) if r is None]
    if missing:
        raise RuntimeError(f"backend returned no result for requests {missing[:5]}")
    return out  # type: ignore[return-value]

"""The contract between the judge and a generation backend."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from PIL import Image


@dataclass(frozen=True)
class SamplingParams:
    """How to generate. Greedy by default (judging should be reproducible)."""

    max_new_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None

    def to_dict(self) -> dict[str, Any]:
        # What ``dataclasses.asdict(self)`` gives (same keys, same order), written out: it is called
        # twice per judgment and ``asdict`` is slow. Goes into cache keys: keep in step with the fields.
        return {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature, "top_p": self.top_p,
                "seed": self.seed}


@dataclass
class GenRequest:
    """One prompt to complete.

    ``messages`` are in the HF chat layout (``{"role", "content": [parts]}``) where an image part is
    ``{"type": "image"}`` and the i-th image part refers to ``images[i]``. ``key`` identifies the
    request in caches and results (the judge sets it from everything that changes the answer).
    """

    messages: list[dict[str, Any]]
    images: list[Image.Image] = field(default_factory=list)
    image_hashes: list[str] = field(default_factory=list)
    key: str = ""


@dataclass
class GenResult:
    """A completion, or the reason there is none (``error`` set, ``text`` None)."""

    text: str | None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    error: str | None = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None


class Backend(Protocol):
    """A generation backend. ``judge_id`` names the model for judgments and cache keys."""

    judge_id: str

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

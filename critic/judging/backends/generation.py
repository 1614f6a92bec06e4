"""What crosses the backend boundary: how to generate, what to complete, what came back.

Plain values with no behaviour beyond their own fields, so that anything storing or passing them
(the SQLite cache, the judge) depends on these and not on the :mod:`~critic.judging.backends.base`
contract.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PIL import Image


@dataclass(frozen=True)
class SamplingParams:
    """How to generate. Greedy by default (judging should be reproducible)."""

    max_new_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    #: ask the server for this many alternatives per generated token (``--verdict-probs`` on an
    #: OpenAI-compatible server); None asks for no logprobs at all
    top_logprobs: int | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        # What ``dataclasses.asdict(self)`` gives (same keys, same order), written out: it is called
        # twice per judgment and ``asdict`` is slow. Goes into cache keys: keep in step with the fields.
        # ``top_logprobs`` only when set, so the keys of runs without it are unchanged.
        out = {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature, "top_p": self.top_p,
               "seed": self.seed}
        if self.top_logprobs is not None:
            out["top_logprobs"] = self.top_logprobs
        return out


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
    #: per generated token ``{"token", "logprob", "top": {token: logprob}}`` when the server returned
    #: logprobs (asked for with ``SamplingParams.top_logprobs``); None otherwise
    logprobs: list[dict[str, Any]] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.text is not None

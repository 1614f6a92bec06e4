"""Verdict records: what a critic decides (:class:`Verdict`) and what the parser read (:class:`ParseResult`).

Shared by the verdict specs (:mod:`critic.judging.verdicts`) and the parser
(:mod:`critic.judging.verdict_parser`); import them from ``critic.judging.verdicts``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

WINNERS: tuple[str, ...] = ("A", "B", "tie")


def fmt_number(x: float) -> str:
    """A score as a critic would write it: integers without a decimal point.

    >>> fmt_number(7.0), fmt_number(7.5), fmt_number(0.125)
    ('7', '7.5', '0.125')
    """
    if float(x).is_integer():
        return str(int(x))
    s = repr(float(x))
    if "e" in s or "E" in s:
        s = f"{x:.12f}".rstrip("0").rstrip(".")
    return s


def winner_from_scores(a: float, b: float) -> str:
    """The preference two scores imply.

    >>> winner_from_scores(7, 9), winner_from_scores(9, 7), winner_from_scores(8, 8)
    ('B', 'A', 'tie')
    """
    return "A" if a > b else "B" if b > a else "tie"


def finite_number(x: Any, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise ValueError(f"{what} must be a number, got {x!r}")
    if not math.isfinite(x):
        raise ValueError(f"{what} must be finite, got {x!r}")
    return float(x)


@dataclass(frozen=True)
class Verdict:
    """A critic's decision; exactly one kind is set.

    ``score`` for pointwise; ``winner`` ("A" / "B" / "tie") for pairwise; ``scores`` for pairwise
    templates that grade both responses, in which case ``winner`` is derived from them.

    >>> Verdict(scores=(7, 9))
    Verdict(score=None, winner='B', scores=(7.0, 9.0))
    >>> Verdict(score=3, winner="A")
    Traceback (most recent call last):
    ...
    ValueError: a verdict is either a score or a preference, not both
    """

    score: float | None = None
    winner: str | None = None
    scores: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.score is not None:
            if self.winner is not None or self.scores is not None:
                raise ValueError("a verdict is either a score or a preference, not both")
            object.__setattr__(self, "score", finite_number(self.score, "score"))
            return
        if self.scores is not None:
            if len(self.scores) != 2:
                raise ValueError(f"scores must hold two numbers, got {self.scores!r}")
            a, b = (finite_number(s, "scores") for s in self.scores)
            derived = winner_from_scores(a, b)
            if self.winner is not None and self.winner != derived:
                raise ValueError(f"winner {self.winner!r} contradicts scores ({a:g}, {b:g})")
            object.__setattr__(self, "scores", (a, b))
            object.__setattr__(self, "winner", derived)
            return
        if self.winner is None:
            raise ValueError("an empty verdict: set score, winner or scores")
        if self.winner not in WINNERS:
            raise ValueError(f"winner must be one of {WINNERS}, got {self.winner!r}")

    @property
    def kind(self) -> str:
        """``"score"``, ``"choice"`` or ``"two_scores"``."""
        return "score" if self.score is not None else "two_scores" if self.scores is not None else "choice"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form. ``Verdict(scores=(7, 9)).to_dict() == {"winner": "B", "scores": [7.0, 9.0]}``."""
        if self.score is not None:
            return {"score": self.score}
        out: dict[str, Any] = {"winner": self.winner}
        if self.scores is not None:
            out["scores"] = list(self.scores)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        """Inverse of :meth:`to_dict`."""
        scores = data.get("scores")
        return cls(score=data.get("score"), winner=data.get("winner"),
                   scores=tuple(scores) if scores is not None else None)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ParseResult:
    """What the parser read from one generation: a verdict with its rationale, or a reason."""

    verdict: Verdict | None
    rationale: str | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.verdict is not None

    @classmethod
    def failure(cls, reason: str) -> ParseResult:
        return cls(None, None, reason)


__all__ = ["WINNERS", "ParseResult", "Verdict", "finite_number", "fmt_number", "winner_from_scores"]

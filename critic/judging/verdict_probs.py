"""Verdict probabilities: P(each verdict the template allows) at the point where the verdict is written.

After the rationale the critic writes its verdict in the template's format. The verdicts it could
have written — every choice (A / B / tie) or every score of an integer scale — are rendered in that
format, ``c_v = spec.render(v)``; they share a prefix ``P`` (``"Rating: [["``, ``"Therefore, the "``)
and part at the first character where they differ. The *verdict point* is the start of the parsed
verdict in the generated text plus ``P``: the text there is fixed by the rationale, and the next
token decides the verdict. With ``q(t)`` the next-token probability of token ``t`` there and
``V(t)`` the verdicts whose remainder ``c_v[len(P):]`` begins with ``t`` (or ``t`` with it), each
verdict takes an equal share of every token it is consistent with, renormalised over the verdicts:

    P(v) = Σ_t q(t) · [v ∈ V(t)] / |V(t)|  /  Σ_v' (same)

So "1" on a 1–10 scale shares the mass of the token "1" with "10" (both begin with it): first-token
probabilities, the multi-token case noted, not a full-continuation likelihood. ``E[score] = Σ_s s·P(s)``.

When the generated verdict does not start with ``P`` (a paraphrase the patterns still accept), the
point is the start of the verdict's own group (the choice word, the number) and ``P`` is empty.
Two-score verdicts and non-integer scales get no probabilities (None), never made-up ones.

>>> from critic.judging.verdicts import VerdictSpec
>>> spec = VerdictSpec.from_header({"kind": "score", "scale": [1, 5], "format": "Rating: [[{score}]]",
...                                 "patterns": [r"rating\\s*:?\\s*\\[\\[\\s*(?P<score>{NUM})\\s*\\]\\]"]})
>>> point = verdict_point(spec, "Fine answer.\\nRating: [[4]]")
>>> point.context[-10:], sorted(point.candidates.items())[:2]
('Rating: [[', [('1', '1]]'), ('2', '2]]')])
>>> probs = distribution(point, {"4": -0.2231, "3": -2.3026, "5": -2.3026, "x": -5.0})
>>> round(sum(probs.values()), 6), round(probs["4"], 3), round(expected_score(probs), 3)
(1.0, 0.8, 4.0)
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from critic.judging.verdicts import Verdict, fmt_number


@dataclass(frozen=True)
class VerdictPoint:
    """Where the verdict is decided: ``context`` (text before the deciding token, the generated text up to
    the verdict plus the shared prefix) and each verdict's remainder (``candidates``: verdict key → text)."""

    context: str
    candidates: dict[str, str]


def rendered_verdicts(spec: Any) -> dict[str, str] | None:
    """Every verdict the spec allows, keyed as judgments store them (``A``/``B``/``tie``, a score as written),
    rendered in the spec's format; None for kinds with no finite, single-token choice."""
    if spec.kind == "choice":
        allowed = [w for w in ("A", "B", "tie") if w != "tie" or spec.allows_tie]
        return {w: spec.render(Verdict(winner=w)) for w in allowed}
    if spec.kind == "score" and spec.integer and spec.scale is not None:
        lo, hi = int(math.ceil(spec.scale[0])), int(math.floor(spec.scale[1]))
        if hi - lo > 100:
            return None
        return {fmt_number(float(s)): spec.render(Verdict(score=float(s))) for s in range(lo, hi + 1)}
    return None


def _group_tokens(spec: Any) -> dict[str, str]:
    if spec.kind == "choice":
        return {w: t for w, t in spec.tokens.items() if w != "tie" or spec.allows_tie}
    return {k: k for k in rendered_verdicts(spec) or {}}


def verdict_point(spec: Any, text: str) -> VerdictPoint | None:
    """The :class:`VerdictPoint` of generated ``text`` (None when it holds no parsable verdict)."""
    rendered = rendered_verdicts(spec)
    if rendered is None or not spec.parse(text).ok:
        return None
    found = [m for p in spec.patterns for m in p.finditer(text)]
    if not found:
        return None
    m = max(found, key=lambda m: (m.end(), -m.start())) if spec.position == "last" else \
        min(found, key=lambda m: (m.start(), -m.end()))
    prefix = os.path.commonprefix(list(rendered.values()))
    if text.startswith(prefix, m.start()) and prefix:
        return VerdictPoint(text[:m.start()] + prefix, {k: v[len(prefix):] for k, v in rendered.items()})
    group = "choice" if spec.kind == "choice" else "score"
    return VerdictPoint(text[:m.start(group)], _group_tokens(spec))


def _norm(s: str) -> str:
    return s.strip().casefold()


def consistent(token: str, remainder: str) -> bool:
    """Whether next token ``token`` may begin ``remainder``: the remainder starts with the token, or the
    token holds the whole remainder and then something that cannot continue it (``"4]]"`` for ``"4"``,
    not ``"10"`` for ``"1"``); space around and case are ignored, an all-space token matches nothing.

    >>> consistent(" 1", "10"), consistent("10", "1"), consistent("4]]", "4]]"), consistent("4]]", "4")
    (True, False, True, True)
    """
    t, r = _norm(token), _norm(remainder)
    if not t or not r:
        return False
    return r.startswith(t) or (t.startswith(r) and not (t[len(r)].isalnum() and r[-1].isalnum()))


def shares(point: VerdictPoint, masses: list[tuple[float, list[str]]]) -> dict[str, float] | None:
    """``P(v)`` from (probability, verdicts it supports) pairs: equal shares, renormalised (module doc)."""
    acc = dict.fromkeys(point.candidates, 0.0)
    for q, vs in masses:
        for v in vs:
            acc[v] += q / len(vs)
    total = sum(acc.values())
    if total <= 0:
        return None
    return {k: v / total for k, v in acc.items()}


def distribution(point: VerdictPoint, next_logprobs: dict[str, float]) -> dict[str, float] | None:
    """``P(v)`` from the next-token logprobs (token text → logprob) at the verdict point."""
    masses = []
    for tok, lp in next_logprobs.items():
        vs = [k for k, rem in point.candidates.items() if consistent(tok, rem)]
        if vs:
            masses.append((math.exp(lp), vs))
    return shares(point, masses)


def from_token_logprobs(spec: Any, text: str, logprobs: list[dict[str, Any]]) -> dict[str, float] | None:
    """``P(v)`` from a server's per-token logprobs (:func:`~critic.judging.backends.token_logprobs.read_logprobs`).

    The tokens are laid end to end; the one holding the verdict point gives the distribution, its
    alternatives cut to the part after the point (those that differ before it are skipped). None when
    the tokens do not spell ``text`` or the point is past them.
    """
    point = verdict_point(spec, text)
    if point is None or "".join(t["token"] for t in logprobs) != text:
        return None
    at, pos = len(point.context), 0
    for t in logprobs:
        end = pos + len(t["token"])
        if end > at:
            head = t["token"][:at - pos]
            top = dict(t.get("top") or {}) or {t["token"]: t["logprob"]}
            cut = {tok[len(head):]: lp for tok, lp in top.items() if tok.startswith(head)}
            return distribution(point, cut)
        pos = end
    return None


def expected_score(probs: dict[str, float]) -> float:
    """``Σ_s s·P(s)`` over a score verdict's probabilities (keys are the scores as written)."""
    return float(sum(float(k) * p for k, p in probs.items()))


def prob_record(task: str, probs: dict[str, float] | None) -> dict[str, Any]:
    """The judgment fields for ``probs``: ``verdict_probs`` (rounded) and, for scores, ``expected_score``."""
    if probs is None:
        return {}
    out: dict[str, Any] = {"verdict_probs": {k: round(v, 6) for k, v in probs.items()}}
    if task == "pointwise":
        out["expected_score"] = round(expected_score(probs), 6)
    return out


__all__ = ["VerdictPoint", "consistent", "distribution", "expected_score", "from_token_logprobs", "prob_record",
           "rendered_verdicts", "shares", "verdict_point"]

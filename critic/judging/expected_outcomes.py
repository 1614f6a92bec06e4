"""Probability-weighted outcomes: ranking and DPO margins from ``verdict_probs`` / ``expected_score``.

A judgment made with ``--verdict-probs`` says how sure it is; these turn that into the numbers ranking
uses (:mod:`critic.judging.ranking`):

* pairwise, ``s(first→second)`` becomes its expectation ``P(B) − P(A)`` (a tie counts 0) instead of
  the verdict's ``+1 / −1 / 0`` — the ``llava_ov`` sum then weighs each judgment by how sure it is;
* pointwise, the score becomes ``expected_score`` (``Σ s·P(s)``).

A judgment without probabilities (a parse failure, a two-score template, a server that sent no
logprobs) keeps its plain verdict. ``critic label-pairs`` / ``best-of-n --use-expected-score`` rank by
these; whenever the judgments carry probabilities, a ranked set also records ``expected_margin``
(the chosen minus the rejected answer's expected reward), which the DPO loop's Dynamic Reward
Scaling can use as its margin (``dpo.drs.margin: expected_score``).

>>> from critic.records import PairwiseJudgment
>>> j = PairwiseJudgment(id="s:0>1", winner="B", template="t", template_hash="h", judge="j",
...                      verdict_probs={"A": 0.3, "B": 0.6, "tie": 0.1})
>>> round(expected_relative_score(j), 6)
0.3
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

Rewards = Callable[[Sequence[Sequence[float | None]]], list[float | None]]

_PLAIN = {"A": -1.0, "B": 1.0, "tie": 0.0}


def has_probs(j: Any) -> bool:
    """Whether a judgment carries probabilities (``verdict_probs`` or ``expected_score``)."""
    return bool(getattr(j, "verdict_probs", None)) or getattr(j, "expected_score", None) is not None


def expected_relative_score(j: Any) -> float | None:
    """``E[s(first→second)]`` of a pairwise judgment: ``P(B) − P(A)``, else the plain verdict's value."""
    if j.winner is None:
        return None
    if j.verdict_probs and getattr(j, "scores", None) is None:
        return float(j.verdict_probs.get("B", 0.0) - j.verdict_probs.get("A", 0.0))
    if j.scores is not None and len(j.scores) == 2:
        return float(j.scores[1] - j.scores[0])
    return _PLAIN[j.winner]


def expected_point_score(j: Any) -> float | None:
    """A pointwise judgment's ``expected_score``, else its score (None without a verdict)."""
    if j.score is None:
        return None
    return float(j.expected_score) if j.expected_score is not None else float(j.score)


def expected_rewards(judgments: Sequence[Any], keys: Sequence[tuple[int, ...]], mode: str, k: int,
                     pairwise: Rewards) -> list[float | None]:
    """Every answer's expected reward: ``pairwise`` (the ranking's ``llava_ov_rewards``) of the matrix of
    expected relative scores, or the expected score (pointwise)."""
    if mode == "pairwise":
        matrix: list[list[float | None]] = [[None] * k for _ in range(k)]
        for j, (a, b) in zip(judgments, keys):
            matrix[a][b] = expected_relative_score(j)
        return pairwise(matrix)
    scores: list[float | None] = [None] * k
    for j, (a,) in zip(judgments, keys):
        scores[a] = expected_point_score(j)
    return scores


def expected_margin(judgments: Sequence[Any], keys: Sequence[tuple[int, ...]], mode: str, k: int,
                    chosen: int, rejected: int, pairwise: Rewards) -> float | None:
    """The chosen minus the rejected answer's expected reward; None when no judgment has probabilities."""
    if not any(has_probs(j) for j in judgments):
        return None
    rewards = expected_rewards(judgments, keys, mode, k, pairwise)
    c, r = rewards[chosen], rewards[rejected]
    return None if c is None or r is None else float(c - r)


__all__ = ["expected_margin", "expected_point_score", "expected_relative_score", "expected_rewards", "has_probs"]

"""The ``calibration`` and ``bias`` sections of a report: how far a judge's verdicts can be trusted.

Per task (``pairwise`` / ``pointwise``) the judgments matched to a gold are turned into

- **confidence sources**, each a confidence ``c`` and a correctness ``y`` per unit
  (:mod:`critic.evaluation.calibration`):

  ``verdict_probs``     per judgment carrying ``verdict_probs``: ``c = P(the verdict it gave)``
  ``sample_agreement``  per judgment carrying ``sample_agreement`` (self-consistency, ``--n-samples``):
                        ``c`` = the share of its samples agreeing with its majority verdict
  ``order_agreement``   pairwise, per item judged in both orders with every order parsed: the item's
                        verdict is the unique most common one (else ``tie``), ``c`` = the largest
                        share of its judgments giving one verdict (1 when the orders agree, ½ when not)

  A pairwise unit is right when its verdict equals the gold label; a pointwise one when its score
  (on the gold scale) is within a tenth of the gold scale's span of the gold score (the judgment
  browser's rule; the observed gold range stands in for an unknown scale). The section's headline
  (``ece``, ``brier``, ``auroc``, ``bins``) is the first source present in that order; every source
  is under ``sources``. Intervals resample items (at most ``MAX_FIT_RESAMPLES`` replicates).
- **bias**: ``length`` and ``self_preference`` (:mod:`critic.evaluation.bias`), from the response
  texts and models an items file used as gold carries; ``null`` with a ``reason`` where it has none.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from critic.evaluation.bias import (
    MAX_FIT_RESAMPLES,
    PairRow,
    pairwise_length_bias,
    pairwise_self_preference,
    pointwise_length_bias,
    pointwise_self_preference,
)
from critic.evaluation.calibration import calibration
from critic.evaluation.gold import Gold
from critic.evaluation.metrics_pointwise import map_scale
from critic.records import PairwiseJudgment, PointwiseJudgment

SOURCES = ("verdict_probs", "sample_agreement", "order_agreement")
Y = {"A": 1.0, "B": 0.0, "tie": 0.5}


def _prob_of(j: Any, verdict: Any) -> float | None:
    probs = j.verdict_probs
    if not probs:
        return None
    if isinstance(verdict, float):  # a score: its key is the number as the template writes it
        for k, p in probs.items():
            try:
                if float(k) == verdict:
                    return float(p)
            except ValueError:
                continue
        return 0.0
    return float(probs.get(verdict, 0.0))


def _calibration_section(units: dict[str, tuple[list[float], list[float], list[int]]], kw: dict[str, Any]) -> dict[str, Any]:
    sources = {name: calibration(c, y, items=it, **kw).to_dict() for name, (c, y, it) in units.items() if c}
    head = next((sources[s] for s in SOURCES if s in sources), None)
    out: dict[str, Any] = {"source": next((s for s in SOURCES if s in sources), None)}
    out.update(head if head is not None else {"n": 0, "ece": None, "brier": None, "auroc": None, "bins": []})
    out["sources"] = sources
    return out


def _pairwise(golds: dict[str, Gold], js: Sequence[PairwiseJudgment], family: str | None, kw: dict[str, Any],
              bkw: dict[str, Any]) -> dict[str, Any]:
    ids = list(dict.fromkeys(j.id for j in js))
    index = {i: n for n, i in enumerate(ids)}
    units: dict[str, tuple[list[float], list[float], list[int]]] = {s: ([], [], []) for s in SOURCES}
    by_item: dict[str, list[PairwiseJudgment]] = {}
    for j in js:
        by_item.setdefault(j.id, []).append(j)
        if j.winner is None:
            continue
        ok = float(j.winner == golds[j.id].label)
        for name, conf in (("verdict_probs", _prob_of(j, j.winner)), ("sample_agreement", j.sample_agreement)):
            if conf is not None:
                units[name][0].append(conf)
                units[name][1].append(ok)
                units[name][2].append(index[j.id])
    for i, group in by_item.items():
        if {j.swapped for j in group} != {False, True} or any(j.winner is None for j in group):
            continue
        counts = Counter(j.winner for j in group).most_common()
        verdict = counts[0][0] if len(counts) == 1 or counts[0][1] > counts[1][1] else "tie"
        units["order_agreement"][0].append(counts[0][1] / len(group))
        units["order_agreement"][1].append(float(verdict == golds[i].label))
        units["order_agreement"][2].append(index[i])
    bias: dict[str, Any] = {}
    rows = [PairRow(index[j.id], Y[j.winner], golds[j.id].label or "tie", len(str(golds[j.id].response_a)),
                    len(str(golds[j.id].response_b))) for j in js
            if j.winner is not None and golds[j.id].response_a is not None and golds[j.id].response_b is not None]
    bias["length"] = (pairwise_length_bias(rows, **bkw) if rows else
                      {"reason": "the gold has no response_a / response_b texts (give the items file as --gold)"})
    if family:
        sp = [(index[j.id], Y[j.winner], golds[j.id].label or "tie", golds[j.id].model_a, golds[j.id].model_b)
              for j in js if j.winner is not None]
        bias["self_preference"] = pairwise_self_preference(sp, family, **bkw)
    else:
        bias["self_preference"] = {"reason": "no --judge-family given"}
    return {"calibration": _calibration_section(units, kw), "bias": bias}


def _pointwise(golds: dict[str, Gold], js: Sequence[PointwiseJudgment], family: str | None,
               judge_scale: tuple[float, float] | None, gold_scale: tuple[float, float] | None,
               kw: dict[str, Any], bkw: dict[str, Any]) -> dict[str, Any]:
    ids = list(dict.fromkeys(j.id for j in js))
    index = {i: n for n, i in enumerate(ids)}
    gvals = np.array([golds[i].score for i in ids], dtype=float)
    span = (gold_scale[1] - gold_scale[0]) if gold_scale else (float(np.ptp(gvals)) if gvals.size else 0.0)
    tol = 0.1 * span
    units: dict[str, tuple[list[float], list[float], list[int]]] = {s: ([], [], []) for s in SOURCES[:2]}
    scores: dict[str, list[float]] = {}
    for j in js:
        if j.score is None:
            continue
        scores.setdefault(j.id, []).append(j.score)
        x = float(map_scale(np.array([j.score]), judge_scale, gold_scale)[0])
        ok = float(abs(x - float(golds[j.id].score)) <= tol + 1e-12)  # type: ignore[arg-type]
        for name, conf in (("verdict_probs", _prob_of(j, float(j.score))), ("sample_agreement", j.sample_agreement)):
            if conf is not None:
                units[name][0].append(conf)
                units[name][1].append(ok)
                units[name][2].append(index[j.id])
    scored = [i for i in ids if i in scores]
    x = map_scale(np.array([np.mean(scores[i]) for i in scored]), judge_scale, gold_scale)
    y = np.array([golds[i].score for i in scored], dtype=float)
    bias: dict[str, Any] = {}
    if scored and all(golds[i].response is not None for i in scored):
        length = np.array([len(str(golds[i].response)) for i in scored], dtype=float)
        bias["length"] = pointwise_length_bias(x, y, length, **bkw)
    else:
        bias["length"] = {"reason": "the gold has no response texts (give the items file as --gold)"}
    bias["self_preference"] = (pointwise_self_preference(x, y, [golds[i].response_model for i in scored], family, **bkw)
                               if family else {"reason": "no --judge-family given"})
    return {"calibration": _calibration_section(units, kw), "bias": bias}


def trust_sections(golds: dict[str, Gold], judgments: Sequence[PairwiseJudgment | PointwiseJudgment], *,
                   judge_family: str | None = None, judge_scale: tuple[float, float] | None = None,
                   gold_scale: tuple[float, float] | None = None, n_resamples: int = 1000,
                   confidence: float = 0.95, seed: int = 0) -> dict[str, dict[str, Any]]:
    """``{task: {"calibration": ..., "bias": ...}}`` for each task with judgments matched to a gold."""
    kw = dict(n_resamples=min(n_resamples, MAX_FIT_RESAMPLES), confidence=confidence, seed=seed)
    bkw = dict(n_resamples=n_resamples, confidence=confidence, seed=seed)
    pair = [j for j in judgments if isinstance(j, PairwiseJudgment) and j.error is None]
    point = [j for j in judgments if isinstance(j, PointwiseJudgment) and j.error is None]
    out: dict[str, dict[str, Any]] = {}
    if pair:
        out["pairwise"] = _pairwise(golds, pair, judge_family, kw, bkw)
    if point:
        out["pointwise"] = _pointwise(golds, point, judge_family, judge_scale, gold_scale, kw, bkw)
    return out


__all__ = ["SOURCES", "trust_sections"]

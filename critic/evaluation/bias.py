"""Which way a judge leans: length bias and self-preference, each against the gold.

**Length, pairwise.** For a judgment of a pair with lengths ``ℓ_A ≠ ℓ_B`` (characters):

- ``longer_preferred_rate``: among decisive judgments (``A`` or ``B``) of pairs whose gold prefers
  the *shorter* response or is a tie, the share choosing the longer one. A judge indifferent to
  length and agreeing with gold scores low; one that always takes the longer answer scores 1.
- ``slope``: the coefficient ``β`` of ``P(judge says A) = σ(α_g + β · Δ / sd(Δ))`` with
  ``Δ = ℓ_A − ℓ_B`` and one intercept ``α_g`` per gold label (gold held fixed), fitted on every
  parsed judgment (a tie is the target ½) by :func:`critic.evaluation.logistic.fit_logistic`.
  ``β`` is the change in log-odds of preferring A per standard deviation of the length difference;
  0 is no length bias. ``slope_ci`` is a percentile bootstrap over items (at most
  ``MAX_FIT_RESAMPLES`` refits), ``slope_se`` the Wald standard error. A ridge ``λ = 1``
  (:data:`RIDGE`) keeps ``β`` finite when length separates the choices perfectly.

**Length, pointwise.** ``slope`` of the least-squares fit ``x' = a + b·y + β·ℓ/sd(ℓ)`` (judge score
on the gold scale ``x'``, gold score ``y``): score points per standard deviation of length at a
fixed gold score.

**Self-preference** (``--judge-family NAME``; a model is of the family when ``NAME`` is in its name,
case-insensitively). Pairwise: over pairs where exactly one response is the family's, the judge's
win rate for it (a tie counts ½) beside the gold's, and their difference. Pointwise: the mean
``x' − y`` for the family's responses minus that for the others' (score points over gold).

>>> rows = [PairRow(0, 1.0, "B", 300, 100), PairRow(1, 0.0, "B", 100, 300), PairRow(2, 1.0, "tie", 200, 100)]
>>> length_rate(rows)          # gold prefers the shorter / a tie: the judge chose the longer 2 times of 2
1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from critic.evaluation.bootstrap import Resampler, percentile_interval
from critic.evaluation.logistic import fit_logistic

MAX_FIT_RESAMPLES = 200
#: ridge on the length fit: keeps β finite when length separates the choices perfectly (a judge that
#: always takes the longer answer has no maximum-likelihood β); negligible at hundreds of judgments
RIDGE = 1.0
GOLD_CODE = {"A": 1.0, "B": 0.0, "tie": 0.5}


@dataclass(frozen=True)
class PairRow:
    """One parsed pairwise judgment: ``y`` 1 = A, 0 = B, ½ = tie; the gold label; the two lengths."""

    item: int
    y: float
    gold: str
    len_a: int
    len_b: int


def _ci(reps: list[float], confidence: float) -> list[float] | None:
    ci = percentile_interval(np.asarray(reps, dtype=float), confidence) if reps else None
    return None if ci is None else [ci[0], ci[1]]


def _item_weights(n_items: int, n_resamples: int, seed: int):  # type: ignore[no-untyped-def]
    for chunk in Resampler(np.zeros(n_items, dtype=np.int64), np.arange(n_items), n_resamples, seed).weights():
        yield from chunk


def length_rate(rows: Sequence[PairRow], w: np.ndarray | None = None) -> float | None:
    """Share of decisive judgments choosing the longer response where gold prefers the shorter or ties."""
    num = den = 0.0
    for r in rows:
        if r.len_a == r.len_b or r.y == 0.5:
            continue
        longer = "A" if r.len_a > r.len_b else "B"
        if r.gold == longer:
            continue
        wt = 1.0 if w is None else float(w[r.item])
        den += wt
        num += wt * ((r.y == 1.0) == (longer == "A"))
    return num / den if den else None


def _design(rows: Sequence[PairRow]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    delta = np.array([r.len_a - r.len_b for r in rows], dtype=float)
    sd = float(delta.std())
    labels = [g for g in ("A", "B", "tie") if any(r.gold == g for r in rows)]
    cols = [np.array([r.gold == g for r in rows], dtype=float) for g in labels]
    X = np.column_stack([*cols, delta / sd if sd > 0 else delta])
    return X, np.array([r.y for r in rows]), np.array([r.item for r in rows]), [*labels, "length"]


def pairwise_length_bias(rows: Sequence[PairRow], *, n_resamples: int = 1000, confidence: float = 0.95,
                         seed: int = 0) -> dict[str, Any]:
    """``longer_preferred_rate`` and the length ``slope`` with intervals (module docstring)."""
    out: dict[str, Any] = {"n_judgments": len(rows), "unit": "characters"}
    if not rows:
        return {**out, "longer_preferred_rate": None, "slope": None}
    n_items = max(r.item for r in rows) + 1
    rate = length_rate(rows)
    X, y, item, names = _design(rows)
    fit = fit_logistic(X, y, l2=RIDGE)
    out.update(longer_preferred_rate=rate, longer_preferred_rate_ci=None,
               n_judgments_gold_shorter_or_tie=sum(
                   r.len_a != r.len_b and r.y != 0.5 and r.gold != ("A" if r.len_a > r.len_b else "B") for r in rows),
               slope=float(fit.coef[-1]) if np.isfinite(X[:, -1]).all() and X[:, -1].any() else None,
               slope_se=float(fit.se[-1]), slope_ci=None, columns=names)
    if out["slope"] is None:
        out["slope_se"] = None
    if n_resamples > 0:
        rates, slopes = [], []
        for b, wi in enumerate(_item_weights(n_items, n_resamples, seed)):
            r_b = length_rate(rows, wi)
            rates.append(np.nan if r_b is None else r_b)
            if b < MAX_FIT_RESAMPLES and out["slope"] is not None:
                slopes.append(float(fit_logistic(X, y, wi[item], l2=RIDGE, x0=fit.coef).coef[-1]))
        out["longer_preferred_rate_ci"] = _ci(rates, confidence) if rate is not None else None
        out["slope_ci"] = _ci(slopes, confidence) if out["slope"] is not None else None
        out["slope_resamples"] = len(slopes)
    return out


def pointwise_length_bias(x: np.ndarray, y: np.ndarray, length: np.ndarray, *, n_resamples: int = 1000,
                          confidence: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """Least-squares slope of the judge score on length (per sd) at fixed gold score.

    >>> L = np.array([10.0, 20, 30, 40]); g = np.array([1.0, 2, 1, 2])
    >>> round(pointwise_length_bias(g + 0.1 * L, g, L, n_resamples=0)["slope"] / float(L.std()), 6)
    0.1
    """
    x, y, length = (np.asarray(a, dtype=float) for a in (x, y, length))
    sd = float(length.std())
    out: dict[str, Any] = {"n": int(x.size), "unit": "characters", "slope": None, "slope_ci": None}
    if x.size < 3 or sd == 0:
        return out
    X = np.column_stack([np.ones_like(x), y, length / sd])

    def slope(w: np.ndarray) -> float:
        sw = np.sqrt(w)
        coef, *_ = np.linalg.lstsq(X * sw[:, None], x * sw, rcond=None)
        return float(coef[-1])

    out["slope"] = slope(np.ones_like(x))
    if n_resamples > 0:
        out["slope_ci"] = _ci([slope(w) for w in _item_weights(x.size, n_resamples, seed)], confidence)
    return out


def is_family(model: str | None, family: str) -> bool:
    return model is not None and family.lower() in model.lower()


def pairwise_self_preference(rows: Sequence[tuple[int, float, str, str | None, str | None]], family: str, *,
                             n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """Rows ``(item, y, gold, model_a, model_b)``: the judge's and gold's win rate for the family's answers.

    >>> r = pairwise_self_preference([(0, 1.0, "B", "mine-7b", "other"), (1, 0.0, "B", "other", "mine")], "mine",
    ...                              n_resamples=0)
    >>> r["judge_win_rate"], r["gold_win_rate"], r["difference"]
    (1.0, 0.5, 0.5)
    """
    own = [(i, y if is_family(a, family) else 1 - y, GOLD_CODE[g] if is_family(a, family) else 1 - GOLD_CODE[g])
           for i, y, g, a, b in rows if is_family(a, family) != is_family(b, family)]
    out: dict[str, Any] = {"family": family, "n_judgments": len(own), "judge_win_rate": None, "gold_win_rate": None,
                           "difference": None, "difference_ci": None}
    if not own:
        return out
    item = np.array([o[0] for o in own])
    j = np.array([o[1] for o in own])
    g = np.array([o[2] for o in own])
    out.update(judge_win_rate=float(j.mean()), gold_win_rate=float(g.mean()), difference=float(j.mean() - g.mean()))
    if n_resamples > 0:
        reps = []
        for wi in _item_weights(int(item.max()) + 1, n_resamples, seed):
            w = wi[item]
            reps.append(float(w @ (j - g) / w.sum()) if w.sum() else np.nan)
        out["difference_ci"] = _ci(reps, confidence)
    return out


def pointwise_self_preference(x: np.ndarray, y: np.ndarray, models: Sequence[str | None], family: str, *,
                              n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """Mean ``x' − y`` on the family's responses minus on the others' (score points)."""
    own = np.array([is_family(m, family) for m in models], dtype=bool)
    other = np.array([m is not None for m in models], dtype=bool) & ~own
    out: dict[str, Any] = {"family": family, "n_own": int(own.sum()), "n_other": int(other.sum()),
                           "difference": None, "difference_ci": None}
    if not own.any() or not other.any():
        return out
    d = np.asarray(x, dtype=float) - np.asarray(y, dtype=float)

    def diff(w: np.ndarray) -> float:
        wo, wt = w * own, w * other
        return float(wo @ d / wo.sum() - wt @ d / wt.sum()) if wo.sum() and wt.sum() else np.nan

    out["difference"] = diff(np.ones(d.size))
    out["own_minus_gold"] = float(d[own].mean())
    out["other_minus_gold"] = float(d[other].mean())
    if n_resamples > 0:
        out["difference_ci"] = _ci([diff(w) for w in _item_weights(d.size, n_resamples, seed)], confidence)
    return out


__all__ = ["MAX_FIT_RESAMPLES", "PairRow", "is_family", "length_rate", "pairwise_length_bias",
           "pairwise_self_preference", "pointwise_length_bias", "pointwise_self_preference"]

"""Calibration of a judge's confidence: expected calibration error, Brier score, AUROC, reliability bins.

Each judged unit has a confidence ``c_i ∈ [0, 1]`` (how sure the judge says it is of its verdict)
and a correctness ``y_i ∈ {0, 1}`` (the verdict equals the gold). With ``B = 10`` equal-width bins
``[0, 0.1), …, [0.9, 1.0]`` holding ``n_b`` units of mean confidence ``conf_b`` and accuracy ``acc_b``:

- ``ece = Σ_b (n_b / n) |acc_b − conf_b|`` (Naeini et al. 2015; Guo et al. 2017), 0 is calibrated;
- ``brier = Σ_i (c_i − y_i)² / n`` — the Brier score of the top-label confidence (lower is better);
- ``auroc``: the probability that a right verdict has a higher confidence than a wrong one (ties
  count ½), ``(R₁ − n₁(n₁ + 1)/2) / (n₁ n₀)`` with ``R₁`` the sum of the mid-ranks of the right ones
  (Mann–Whitney); ``None`` when all are right or all wrong. 0.5 is a confidence that says nothing.

Weights (bootstrap counts) multiply every unit's contribution.

>>> cal = calibration([0.95, 0.95, 0.55, 0.55], [1, 1, 1, 0])
>>> round(cal.ece, 4)      # bin 0.5: ½·|0.5 − 0.55|, bin 0.9: ½·|1 − 0.95|
0.05
>>> round(cal.brier, 4)    # (2·0.05² + 0.45² + 0.55²) / 4
0.1275
>>> round(cal.auroc, 4)    # right vs wrong: 0.95 > 0.55 twice, 0.55 = 0.55 once (½): 2.5 / 3
0.8333
>>> [(b["lo"], b["n"]) for b in cal.bins if b["n"]]
[(0.5, 2), (0.9, 2)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import rankdata

N_BINS = 10


@dataclass
class Calibration:
    """ECE, Brier, AUROC and the reliability bins of one confidence source."""

    n: int
    ece: float | None
    brier: float | None
    auroc: float | None
    bins: list[dict[str, Any]] = field(default_factory=list)
    ci: dict[str, list[float] | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n": self.n, "ece": self.ece, "brier": self.brier, "auroc": self.auroc}
        for k in ("ece", "brier", "auroc"):
            out[f"{k}_ci"] = self.ci.get(k)
        out["bins"] = self.bins
        return out


def _bin_index(conf: np.ndarray, n_bins: int) -> np.ndarray:
    return np.minimum((conf * n_bins).astype(np.int64), n_bins - 1)


def ece(conf: np.ndarray, correct: np.ndarray, w: np.ndarray | None = None, n_bins: int = N_BINS) -> float:
    """Weighted expected calibration error over ``n_bins`` equal-width bins (module docstring).

    >>> round(ece(np.array([0.8, 0.8, 0.8, 0.8, 0.8]), np.array([1, 1, 1, 1, 0])), 6)
    0.0
    """
    conf, correct = np.asarray(conf, dtype=float), np.asarray(correct, dtype=float)
    w = np.ones_like(conf) if w is None else np.asarray(w, dtype=float)
    idx = _bin_index(conf, n_bins)
    n_b = np.bincount(idx, weights=w, minlength=n_bins)
    gap = np.bincount(idx, weights=w * correct, minlength=n_bins) - np.bincount(idx, weights=w * conf, minlength=n_bins)
    total = n_b.sum()
    return float(np.abs(gap).sum() / total) if total else float("nan")


def brier(conf: np.ndarray, correct: np.ndarray, w: np.ndarray | None = None) -> float:
    """``Σ w (c − y)² / Σ w``."""
    conf, correct = np.asarray(conf, dtype=float), np.asarray(correct, dtype=float)
    w = np.ones_like(conf) if w is None else np.asarray(w, dtype=float)
    return float(np.sum(w * (conf - correct) ** 2) / w.sum()) if w.sum() else float("nan")


def auroc(conf: np.ndarray, correct: np.ndarray) -> float | None:
    """Area under the ROC curve of confidence as a detector of right verdicts (Mann–Whitney U / n₁n₀).

    >>> auroc(np.array([0.9, 0.8, 0.3]), np.array([1, 0, 0]))
    1.0
    """
    conf, correct = np.asarray(conf, dtype=float), np.asarray(correct, dtype=bool)
    n1, n0 = int(correct.sum()), int((~correct).sum())
    if n1 == 0 or n0 == 0:
        return None
    ranks = rankdata(conf)  # mid-ranks: a tie between a right and a wrong verdict counts ½
    return float((ranks[correct].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def reliability_bins(conf: np.ndarray, correct: np.ndarray, n_bins: int = N_BINS) -> list[dict[str, Any]]:
    """Per bin: ``lo``, ``hi``, ``n``, mean ``confidence`` and ``accuracy`` (``None`` for an empty bin)."""
    idx = _bin_index(conf, n_bins)
    out = []
    for b in range(n_bins):
        m = idx == b
        n = int(m.sum())
        out.append({"lo": round(b / n_bins, 10), "hi": round((b + 1) / n_bins, 10), "n": n,
                    "confidence": float(conf[m].mean()) if n else None,
                    "accuracy": float(correct[m].mean()) if n else None})
    return out


def calibration(conf: Sequence[float] | np.ndarray, correct: Sequence[int] | np.ndarray, *,
                items: Sequence[int] | np.ndarray | None = None, n_resamples: int = 0, confidence: float = 0.95,
                seed: int = 0, n_bins: int = N_BINS) -> Calibration:
    """Calibration of ``conf`` against ``correct``; intervals by resampling ``items`` (unit ids) when asked.

    Several units of one item (both orders, samples) are resampled together, as everywhere in
    critic's evaluation (:mod:`critic.evaluation.bootstrap`).
    """
    from critic.evaluation.bootstrap import Resampler, percentile_interval

    c = np.clip(np.asarray(conf, dtype=float), 0.0, 1.0)
    y = np.asarray(correct, dtype=float)
    if c.size == 0:
        return Calibration(0, None, None, None, [])
    cal = Calibration(int(c.size), ece(c, y, n_bins=n_bins), brier(c, y), auroc(c, y), reliability_bins(c, y, n_bins))
    if n_resamples > 0:
        unit = np.arange(c.size) if items is None else np.unique(np.asarray(items), return_inverse=True)[1]
        n_units = int(unit.max()) + 1
        reps: dict[str, list[float]] = {"ece": [], "brier": [], "auroc": []}
        for wu in Resampler(np.zeros(n_units, dtype=np.int64), np.arange(n_units), n_resamples, seed).weights():
            for row in wu:
                w = row[unit]
                reps["ece"].append(ece(c, y, w, n_bins))
                reps["brier"].append(brier(c, y, w))
                keep = np.repeat(np.arange(c.size), w.astype(np.int64))
                a = auroc(c[keep], y[keep])
                reps["auroc"].append(np.nan if a is None else a)
        cal.ci = {k: (list(ci) if (ci := percentile_interval(np.array(v), confidence)) is not None
                      and getattr(cal, k) is not None else None) for k, v in reps.items()}
    return cal


__all__ = ["N_BINS", "Calibration", "auroc", "brier", "calibration", "ece", "reliability_bins"]

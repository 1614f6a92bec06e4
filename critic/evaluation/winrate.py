"""Win rates against a baseline model, raw and length-controlled (AlpacaEval 2; Dubois et al., 2024).

Each pairwise item puts a model ``m``'s answer against the baseline's (``model_a`` / ``model_b``; one
of them the baseline). Its preference ``y_i`` is the mean over the item's parsed judgments of
1 (``m`` wins), ½ (tie), 0 (baseline wins), named in the item's original order whatever the order
the judge saw. Per model, with ``Δ_i`` = length of ``m``'s answer − the baseline's (characters):

- ``win_rate = 100 · Σ y_i / n``;
- the length-controlled GLM ``P(m wins i) = σ(θ + φ · tanh(Δ_i / sd(Δ)) + ψ · γ_i)``, fitted by
  soft-target logistic regression (:func:`critic.evaluation.logistic.fit_logistic`); ``γ_i`` is the
  instruction's difficulty when a difficulty file is given, the term is left out otherwise;
- ``lc_win_rate = 100 · Σ σ(θ + ψ γ_i) / n``: the predicted win rate with the length term set to 0.

Intervals: percentile bootstrap over the model's items, the fit redone per replicate.

>>> rows = [WinRow("m", "1", 1.0, 10), WinRow("m", "2", 0.0, -10), WinRow("m", "3", 0.5, 0)]
>>> r = model_win_rate(rows, n_resamples=0)
>>> r.win_rate, round(r.lc_win_rate, 4)     # symmetric lengths: the length term changes nothing
(50.0, 50.0)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from critic.evaluation.bootstrap import Resampler, percentile_interval
from critic.evaluation.logistic import fit_logistic, sigmoid


@dataclass(frozen=True)
class WinRow:
    """One item of model ``model`` against the baseline: preference ``y`` and length difference."""

    model: str
    item: str
    y: float
    length_diff: float
    difficulty: float | None = None


@dataclass
class ModelWinRate:
    model: str
    n: int
    win_rate: float
    lc_win_rate: float | None
    win_rate_ci: list[float] | None = None
    lc_win_rate_ci: list[float] | None = None
    coef: dict[str, float] = field(default_factory=dict)
    mean_length_diff: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "n": self.n, "win_rate": self.win_rate, "win_rate_ci": self.win_rate_ci,
                "lc_win_rate": self.lc_win_rate, "lc_win_rate_ci": self.lc_win_rate_ci, "coef": self.coef,
                "mean_length_diff": self.mean_length_diff}


def design(rows: Sequence[WinRow], use_difficulty: bool) -> tuple[np.ndarray, list[str]]:
    """The GLM's design matrix: ``[1, tanh(Δ/sd(Δ))(, γ)]`` and the column names."""
    delta = np.array([r.length_diff for r in rows], dtype=float)
    sd = float(delta.std())
    cols = [np.ones(len(rows)), np.tanh(delta / sd) if sd > 0 else np.zeros(len(rows))]
    names = ["model", "length"]
    if use_difficulty:
        cols.append(np.array([r.difficulty for r in rows], dtype=float))
        names.append("difficulty")
    return np.column_stack(cols), names


def _lc(X: np.ndarray, coef: np.ndarray, w: np.ndarray | None = None) -> float:
    z = X @ coef - X[:, 1] * coef[1]  # the length term set to zero
    p = sigmoid(z)
    return float(100.0 * (p.mean() if w is None else (w @ p) / w.sum()))


def model_win_rate(rows: Sequence[WinRow], *, use_difficulty: bool = False, n_resamples: int = 200,
                   confidence: float = 0.95, seed: int = 0) -> ModelWinRate:
    """Raw and length-controlled win rate of one model (module docstring)."""
    y = np.array([r.y for r in rows], dtype=float)
    X, names = design(rows, use_difficulty)
    fit = fit_logistic(X, y)
    out = ModelWinRate(rows[0].model, len(rows), float(100.0 * y.mean()), _lc(X, fit.coef),
                       coef={k: float(v) for k, v in zip(names, fit.coef)},
                       mean_length_diff=float(np.mean([r.length_diff for r in rows])))
    if n_resamples > 0:
        raw, lc = [], []
        for chunk in Resampler(np.zeros(len(rows), dtype=np.int64), np.arange(len(rows)), n_resamples, seed).weights():
            for w in chunk:
                raw.append(100.0 * (w @ y) / w.sum())
                lc.append(_lc(X, fit_logistic(X, y, w, x0=fit.coef).coef, w))
        for key, reps in (("win_rate_ci", raw), ("lc_win_rate_ci", lc)):
            ci = percentile_interval(np.array(reps), confidence)
            setattr(out, key, None if ci is None else [ci[0], ci[1]])
    return out


def win_rows(items: Sequence[Any], judgments: Sequence[Any], baseline: str,
             difficulty: Mapping[str, float] | None = None) -> tuple[list[WinRow], dict[str, int]]:
    """Join pairwise items (with ``model_a`` / ``model_b``) and their judgments into :class:`WinRow` s.

    Returns the rows and counts of what was left out (no baseline side, both sides the baseline,
    no parsed judgment, no difficulty for the instruction).
    """
    votes: dict[str, list[str]] = {}
    for j in judgments:
        if getattr(j, "winner", None) is not None and j.error is None:
            votes.setdefault(j.id, []).append(j.winner)
    skipped = {"no_baseline": 0, "baseline_both_sides": 0, "unjudged": 0, "no_difficulty": 0}
    rows = []
    for it in items:
        a_base, b_base = it.model_a == baseline, it.model_b == baseline
        if a_base and b_base:
            skipped["baseline_both_sides"] += 1
            continue
        if not (a_base or b_base):
            skipped["no_baseline"] += 1
            continue
        if it.id not in votes:
            skipped["unjudged"] += 1
            continue
        m_side = "B" if a_base else "A"
        ys = [1.0 if v == m_side else 0.5 if v == "tie" else 0.0 for v in votes[it.id]]
        la, lb = len(it.response_a), len(it.response_b)
        gamma = None
        if difficulty is not None:
            gamma = difficulty.get(it.question_id or it.id, difficulty.get(it.id))
            if gamma is None:
                skipped["no_difficulty"] += 1
                continue
        model = (it.model_b if a_base else it.model_a) or "(unnamed)"
        rows.append(WinRow(model, it.id, float(np.mean(ys)), float(lb - la if a_base else la - lb), gamma))
    return rows, skipped


def leaderboard(rows: Sequence[WinRow], *, use_difficulty: bool = False, n_resamples: int = 200,
                confidence: float = 0.95, seed: int = 0) -> list[ModelWinRate]:
    """Every model's win rates, best length-controlled win rate first."""
    by_model: dict[str, list[WinRow]] = {}
    for r in rows:
        by_model.setdefault(r.model, []).append(r)
    out = [model_win_rate(rs, use_difficulty=use_difficulty, n_resamples=n_resamples, confidence=confidence, seed=seed)
           for rs in by_model.values()]
    return sorted(out, key=lambda m: -(m.lc_win_rate if m.lc_win_rate is not None else m.win_rate))


__all__ = ["ModelWinRate", "WinRow", "design", "leaderboard", "model_win_rate", "win_rows"]

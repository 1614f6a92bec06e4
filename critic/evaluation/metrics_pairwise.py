"""Pairwise agreement metrics: accuracies, consistency across orders, ties, position bias, ACC+.

Every metric is a ratio of sums over items, ``Σ_i num_i / Σ_i den_i``, so one bootstrap replicate
is a matrix product of item weights with the per-item columns (:mod:`critic.evaluation.bootstrap`). With
``c`` the judgments equal to the gold label, ``n`` all judgments, ``p`` the parsed ones (a parse
failure has no verdict and is never equal to the label):

============================  =====================================================================
``accuracy_with_ties``        ``Σ c / Σ n`` over all judgments, gold ties included
``accuracy_without_ties``     same over judgments whose gold is not a tie (a judge tie is wrong)
``accuracy_original``         ``Σ c / Σ n`` over judgments with ``swapped = false``
``accuracy_swapped``          same with ``swapped = true``
``accuracy_both``             items judged in both orders whose every judgment equals the label,
                              over items judged in both orders
``consistency``               items judged in both orders whose verdicts all agree (a failed
                              order is not agreement), over items judged in both orders
``tie_rate``                  judge ties over parsed judgments
``first_position_rate``       decisive verdicts for the response shown first (``A`` unswapped,
                              ``B`` swapped) over decisive verdicts; 0.5 is no position preference
``parse_failure_rate``        parse failures over judgments
``accuracy_plus``             questions (``question_id``) whose every judgment of every pair equals
                              the label, over questions (MM-RLHF's ACC+); ``null`` unless some
                              items share a ``question_id``
============================  =====================================================================

``parsed_only`` repeats the accuracies with parse failures left out (``p`` in place of ``n``; for
``accuracy_both`` / ``consistency`` / ``accuracy_plus`` only parsed verdicts count, and an item or
question needs one in each order / at least one). Groups: each metric per ``group`` and the macro
average (unweighted mean over groups where the metric is defined).

>>> r = pairwise_metrics([PairCase("1", "A", (PairVote("A", False), PairVote("B", True))),
...                       PairCase("2", "tie", (PairVote(None, False),))], n_resamples=10)
>>> r.metrics["accuracy_with_ties"].value, r.metrics["consistency"].value, r.metrics["parse_failure_rate"].value
(0.3333333333333333, 0.0, 0.3333333333333333)
>>> r.parsed_only["accuracy_with_ties"].value
0.5
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from critic.evaluation.bootstrap import Estimate, Resampler, ratio

NO_GROUP = "(no group)"
LABELS = ("A", "B", "tie")
#: Metric name → (numerator column, denominator column); the order is the report's order.
METRICS: dict[str, tuple[str, str]] = {
    "accuracy_with_ties": ("c", "n"),
    "accuracy_without_ties": ("c_nt", "n_nt"),
    "accuracy_original": ("c_orig", "n_orig"),
    "accuracy_swapped": ("c_swp", "n_swp"),
    "accuracy_both": ("both_ok", "has_both"),
    "consistency": ("agree", "has_both"),
    "tie_rate": ("ties", "p"),
    "first_position_rate": ("first", "decisive"),
    "parse_failure_rate": ("failed", "n"),
    "accuracy_plus": ("q_ok", "q"),
}
PARSED_ONLY: dict[str, tuple[str, str]] = {
    "accuracy_with_ties": ("c", "p"),
    "accuracy_without_ties": ("c_nt", "p_nt"),
    "accuracy_original": ("c_orig", "p_orig"),
    "accuracy_swapped": ("c_swp", "p_swp"),
    "accuracy_both": ("pboth_ok", "phas_both"),
    "consistency": ("pagree", "phas_both"),
    "accuracy_plus": ("pq_ok", "pq"),
}


@dataclass(frozen=True)
class PairVote:
    """One judgment as evaluation sees it: the winner in original order (``None``: parse failure)."""

    winner: str | None
    swapped: bool = False


@dataclass(frozen=True)
class PairCase:
    """A gold-labelled pair and the judgments made of it."""

    id: str
    label: str
    votes: tuple[PairVote, ...]
    group: str | None = None
    question_id: str | None = None


@dataclass
class PairwiseGroup:
    n_items: int
    n_judgments: int
    metrics: dict[str, Estimate]
    n_questions: int = 0  # resampling units (questions; an item without question_id is its own)


@dataclass
class PairwiseResult:
    """All pairwise numbers; :meth:`to_dict` gives the ``report.json`` section."""

    n_items: int
    n_judgments: int
    metrics: dict[str, Estimate]
    parsed_only: dict[str, Estimate]
    groups: dict[str, PairwiseGroup] = field(default_factory=dict)
    macro: dict[str, Estimate] = field(default_factory=dict)
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    extras: dict[str, float | int | None] = field(default_factory=dict)

    def to_dict(self) -> dict:
        out: dict = {"n_items": self.n_items, "n_judgments": self.n_judgments, **flatten(self.metrics)}
        out.update(self.extras)
        out["parsed_only"] = flatten(self.parsed_only)
        out["groups"] = {g: {"n_items": r.n_items, "n_judgments": r.n_judgments, "n_questions": r.n_questions,
                             **flatten(r.metrics)} for g, r in self.groups.items()}
        out["macro"] = flatten(self.macro)
        out["confusion"] = self.confusion
        return out


def flatten(metrics: dict[str, Estimate]) -> dict:
    """``{name: value, name_ci: [lo, hi]}`` — the report's layout of an estimate."""
    out: dict = {}
    for name, est in metrics.items():
        out[name], out[f"{name}_ci"] = est.to_pair()
    return out


_CODE = {"A": 0, "B": 1, "tie": 2, None: -1}


def _columns(cases: Sequence[PairCase], units: np.ndarray, shared_questions: bool) -> dict[str, np.ndarray]:
    """Per-item numerator / denominator columns, computed on the flat list of judgments."""
    n_items = len(cases)
    item = np.fromiter((i for i, c in enumerate(cases) for _ in c.votes), dtype=np.int64)
    win = np.fromiter((_CODE[v.winner] for c in cases for v in c.votes), dtype=np.int64)
    swp = np.fromiter((v.swapped for c in cases for v in c.votes), dtype=bool)
    label = np.fromiter((_CODE[c.label] for c in cases), dtype=np.int64)

    def per_item(mask: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(item, weights=None if mask is None else mask.astype(float), minlength=n_items)

    ok = win == label[item]
    parsed = win >= 0
    orig = ~swp
    nt = (label != 2).astype(float)
    c, n, p = per_item(ok), per_item(), per_item(parsed)
    n_orig, p_orig = per_item(orig), per_item(parsed & orig)
    has_both = (n_orig > 0) & (n - n_orig > 0)
    phas_both = (p_orig > 0) & (p - p_orig > 0)
    counts = [per_item(win == k) for k in range(3)]
    distinct = sum((x > 0).astype(int) for x in counts)
    cols = {
        "c": c, "n": n, "p": p, "c_nt": c * nt, "n_nt": n * nt, "p_nt": p * nt,
        "c_orig": per_item(ok & orig), "n_orig": n_orig, "p_orig": p_orig,
        "c_swp": per_item(ok & swp), "n_swp": n - n_orig, "p_swp": p - p_orig,
        "both_ok": has_both & (c == n), "has_both": has_both, "agree": has_both & (p == n) & (distinct == 1),
        "pboth_ok": phas_both & (c == p), "phas_both": phas_both, "pagree": phas_both & (distinct == 1),
        "ties": counts[2], "decisive": counts[0] + counts[1],
        "first": per_item(((win == 0) & orig) | ((win == 1) & swp)), "failed": n - p,
    }
    out = {k: np.asarray(v, dtype=float) for k, v in cols.items()}
    for k in ("q_ok", "q", "pq_ok", "pq"):
        out[k] = np.zeros(n_items)
    if shared_questions and n_items:
        n_units = int(units.max()) + 1
        bad = np.bincount(units, weights=(c != n).astype(float), minlength=n_units)
        pbad = np.bincount(units, weights=(c != p).astype(float), minlength=n_units)
        any_parsed = np.bincount(units, weights=p, minlength=n_units) > 0
        _, first_row = np.unique(units, return_index=True)
        u = units[first_row]
        out["q"][first_row] = 1.0
        out["q_ok"][first_row] = (bad[u] == 0).astype(float)
        out["pq"][first_row] = any_parsed[u].astype(float)
        out["pq_ok"][first_row] = ((pbad[u] == 0) & any_parsed[u]).astype(float)
    out["_first_gold"] = per_item(((label[item] == 0) & orig) | ((label[item] == 1) & swp))
    out["_confusion"] = np.bincount(label[item] * 4 + (win + 4) % 4, minlength=12).astype(float)
    return out


def _point(sums: np.ndarray, names: dict[str, tuple[str, str]], index: dict[str, int]) -> dict[str, float]:
    return {m: float(ratio(sums[index[a]], sums[index[b]])) for m, (a, b) in names.items()}


def pairwise_metrics(cases: Sequence[PairCase], *, n_resamples: int = 1000, confidence: float = 0.95,
                     seed: int = 0) -> PairwiseResult:
    """Every pairwise metric with its bootstrap interval, per group and macro-averaged."""
    grouped = any(c.group is not None for c in cases)
    cases = sorted(cases, key=lambda c: c.group or NO_GROUP) if grouped else list(cases)
    shared = _shares_questions(cases)
    unit_keys = [(c.group, c.question_id) if c.question_id is not None else (c.group, "\0item:" + c.id)
                 for c in cases]
    unit_ids = {k: i for i, k in enumerate(dict.fromkeys(unit_keys))}
    clusters = np.array([unit_ids[k] for k in unit_keys], dtype=np.int64)
    cols = _columns(cases, clusters, shared)
    extra_cols = {k: cols.pop(k) for k in ("_first_gold", "_confusion")}
    names = list(cols)
    index = {k: i for i, k in enumerate(names)}
    matrix = np.stack([cols[k] for k in names], axis=1) if cases else np.zeros((0, len(names)))
    group_names = sorted({c.group or NO_GROUP for c in cases}) if grouped else []
    g_index = {g: i for i, g in enumerate(group_names)}
    strata = np.array([g_index[c.group or NO_GROUP] if grouped else 0 for c in cases], dtype=np.int64)
    bounds = np.searchsorted(strata, np.arange(len(group_names) + 1))
    members = [slice(int(bounds[g]), int(bounds[g + 1])) for g in range(len(group_names))]

    all_metrics = {**{f"m:{k}": v for k, v in METRICS.items()}, **{f"p:{k}": v for k, v in PARSED_ONLY.items()}}
    overall_point = _point(matrix.sum(axis=0), all_metrics, index)
    group_point = [_point(matrix[m].sum(axis=0), all_metrics, index) for m in members]
    reps: dict[str, list[np.ndarray]] = {k: [] for k in all_metrics}
    group_reps: list[dict[str, list[np.ndarray]]] = [{k: [] for k in METRICS} for _ in members]
    if cases and n_resamples > 0:
        for w in Resampler(strata, clusters, n_resamples, seed).weights():
            sums = w @ matrix
            for k, (a, b) in all_metrics.items():
                reps[k].append(ratio(sums[:, index[a]], sums[:, index[b]]))
            for gi, m in enumerate(members):  # contiguous: cases are sorted by group
                gsums = w[:, m.start:m.stop] @ matrix[m.start:m.stop]
                for k, (a, b) in METRICS.items():
                    group_reps[gi][k].append(ratio(gsums[:, index[a]], gsums[:, index[b]]))
    cat = {k: (np.concatenate(v) if v else None) for k, v in reps.items()}

    def est(point: dict[str, float], rep: dict[str, np.ndarray | None], key: str) -> Estimate:
        return Estimate.of(point[key], rep.get(key), confidence)

    metrics = {k: est(overall_point, cat, f"m:{k}") for k in METRICS}
    parsed = {k: est(overall_point, cat, f"p:{k}") for k in PARSED_ONLY}
    if not shared:
        metrics["accuracy_plus"] = Estimate(None)
        parsed["accuracy_plus"] = Estimate(None)
    groups: dict[str, PairwiseGroup] = {}
    macro: dict[str, Estimate] = {}
    if grouped:
        g_cat = [{k: (np.concatenate(v) if v else None) for k, v in gr.items()} for gr in group_reps]
        for gi, g in enumerate(group_names):
            gm = {k: Estimate.of(group_point[gi][f"m:{k}"], g_cat[gi][k], confidence) for k in METRICS}
            if not shared:
                gm["accuracy_plus"] = Estimate(None)
            m = members[gi]
            groups[g] = PairwiseGroup(m.stop - m.start, int(matrix[m, index["n"]].sum()), gm,
                                      int(np.unique(clusters[m]).size))
        for k in METRICS:
            if k == "accuracy_plus" and not shared:
                macro[k] = Estimate(None)
                continue
            points = np.array([group_point[gi][f"m:{k}"] for gi in range(len(members))])
            point = float(np.nanmean(points)) if np.isfinite(points).any() else None
            rep = None
            if n_resamples > 0 and g_cat and g_cat[0][k] is not None:
                stacked = np.stack([g_cat[gi][k] for gi in range(len(members))])
                with np.errstate(all="ignore"):
                    counts = np.isfinite(stacked).sum(axis=0)
                    rep = np.where(counts > 0, np.nansum(stacked, axis=0) / np.maximum(counts, 1), np.nan)
            macro[k] = Estimate.of(point, rep, confidence)
    n_judgments = int(matrix[:, index["n"]].sum()) if cases else 0
    return PairwiseResult(
        n_items=len(cases), n_judgments=n_judgments, metrics=metrics, parsed_only=parsed, groups=groups,
        macro=macro, confusion=_confusion_table(extra_cols["_confusion"]),
        extras=_extras(cases, cols, extra_cols["_first_gold"]),
    )


def _shares_questions(cases: Sequence[PairCase]) -> bool:
    counts = Counter((c.group, c.question_id) for c in cases if c.question_id is not None)
    return any(n > 1 for n in counts.values())


def _confusion_table(flat: np.ndarray) -> dict[str, dict[str, int]]:
    verdicts = (*LABELS, "failed")
    return {g: {w: int(flat[gi * 4 + wi]) for wi, w in enumerate(verdicts)} for gi, g in enumerate(LABELS)}


def confusion(cases: Sequence[PairCase]) -> dict[str, dict[str, int]]:
    """Judgments counted by gold label (rows) and judge verdict (columns, ``failed`` = no verdict).

    >>> confusion([PairCase("1", "A", (PairVote("A"), PairVote(None, True)))])["A"]
    {'A': 1, 'B': 0, 'tie': 0, 'failed': 1}
    """
    table = {g: {w: 0 for w in (*LABELS, "failed")} for g in LABELS}
    for c in cases:
        for v in c.votes:
            table[c.label][v.winner if v.winner is not None else "failed"] += 1
    return table


def _extras(cases: Sequence[PairCase], cols: dict[str, np.ndarray], first_gold: np.ndarray) -> dict[str, float | int | None]:
    """Reference figures (no interval): what the gold itself would score on ties and positions."""
    n_both = int(cols["has_both"].sum()) if cases else 0
    gold_ties = sum(c.label == "tie" for c in cases)
    decisive_gold = float(cols["n_nt"].sum()) if cases else 0.0
    return {
        "n_items_both_orders": n_both,
        "n_items_one_order": len(cases) - n_both,
        "gold_tie_rate": gold_ties / len(cases) if cases else None,
        "gold_first_position_rate": float(first_gold.sum()) / decisive_gold if decisive_gold else None,
    }


__all__ = ["METRICS", "PARSED_ONLY", "PairCase", "PairVote", "PairwiseGroup", "PairwiseResult", "confusion",
           "flatten", "pairwise_metrics"]

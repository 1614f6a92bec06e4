"""Pointwise agreement metrics: judge scores against gold scores, per item, group and model.

An item's judge score ``x_i`` is the mean of its parsed judgment scores (several rows per id are
allowed: repeated samples); ``y_i`` is its gold score. Items without a parsed score are left out of
the correlations and counted in ``parse_failure_rate`` (parse failures over judgments) and in
``coverage`` (items with a score over items judged).

- ``pearson``, ``spearman``, ``kendall_tau`` (τ-b): over items with a score (scipy for the point
  estimate, :mod:`critic.evaluation.weighted_correlation` for the bootstrap replicates);
- ``mae``: ``Σ |x'_i − y_i| / n`` where ``x'`` is ``x`` mapped linearly onto the gold scale when
  both scales are given (``x' = g_lo + (x − j_lo)(g_hi − g_lo)/(j_hi − j_lo)``), else ``x`` itself;
- ``model_kendall_tau`` / ``model_spearman`` (when items carry ``response_model``): mean judge score
  and mean gold score per model over the same items, correlated across models;
- ``ranking_edit_distance`` (when items share a ``question_id``, as MLLM-as-a-Judge's batch ranking):
  per question, the items ordered by judge score (ties keep item order) and by gold score, each item
  written as a letter (``A``, ``B``, … in item order), and ``lev(judge, gold) / max(len)``; averaged
  over questions with at least two items. A question with an item that has no parsed score (or no
  judgment) counts 1.0 (worst); ``parsed_only`` leaves such questions out. Lower is better.

>>> r = pointwise_metrics([PointCase("a", 1, (1.0,)), PointCase("b", 2, (3.0, None)), PointCase("c", 3, (None,))],
...                       n_resamples=5)
>>> r.n, r.metrics["mae"].value, r.metrics["parse_failure_rate"].value, r.metrics["pearson"].value
(2, 0.5, 0.5, 1.0)
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse, stats

from critic.evaluation.bootstrap import Estimate, Resampler, ratio
from critic.evaluation.metrics_pairwise import NO_GROUP, flatten
from critic.evaluation.weighted_correlation import PairedSample, TableCorrelator, row_rank_correlations

CORRELATIONS = ("pearson", "spearman", "kendall_tau")
METRICS = ("pearson", "spearman", "kendall_tau", "mae", "parse_failure_rate", "coverage")


@dataclass(frozen=True)
class PointCase:
    """A gold-scored response and the judge's scores of it (``None``: a parse failure)."""

    id: str
    gold: float
    scores: tuple[float | None, ...]
    group: str | None = None
    question_id: str | None = None
    response_model: str | None = None

    @property
    def judge(self) -> float | None:
        got = [s for s in self.scores if s is not None]
        return sum(got) / len(got) if got else None


@dataclass
class PointwiseGroup:
    n: int
    n_judgments: int
    metrics: dict[str, Estimate]
    n_questions: int = 0  # resampling units (questions; an item without question_id is its own)


@dataclass
class PointwiseResult:
    """All pointwise numbers; :meth:`to_dict` gives the ``report.json`` section."""

    n: int
    n_items: int
    n_judgments: int
    metrics: dict[str, Estimate]
    parsed_only: dict[str, Estimate] = field(default_factory=dict)
    groups: dict[str, PointwiseGroup] = field(default_factory=dict)
    macro: dict[str, Estimate] = field(default_factory=dict)
    models: list[dict] = field(default_factory=list)
    scales: dict = field(default_factory=dict)
    judge_scores: np.ndarray = field(default_factory=lambda: np.zeros(0))  # x' (on the gold scale if mapped)
    judge_raw: np.ndarray = field(default_factory=lambda: np.zeros(0))  # x (the judge's own scale)
    gold_scores: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def to_dict(self) -> dict:
        out: dict = {"n": self.n, "n_items": self.n_items, "n_judgments": self.n_judgments, **flatten(self.metrics)}
        out["parsed_only"] = flatten(self.parsed_only)
        out["groups"] = {g: {"n": r.n, "n_judgments": r.n_judgments, "n_questions": r.n_questions,
                             **flatten(r.metrics)} for g, r in self.groups.items()}
        out["macro"] = flatten(self.macro)
        if self.models:
            out["models"] = self.models
        out["scales"] = self.scales
        out["distribution"] = {name: _describe(v) for name, v in (("judge", self.judge_scores), ("gold", self.gold_scores))}
        return out


def _describe(v: np.ndarray) -> dict | None:
    if v.size == 0:
        return None
    return {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()), "max": float(v.max())}


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions; Levenshtein 1966). Hand-written: no
    dependency of critic provides it and the strings are a handful of letters.

    >>> levenshtein("CDAB", "CADB"), levenshtein("", "AB"), levenshtein("ABCD", "ABCD")
    (2, 2, 0)
    """
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        cur = [i]
        for j, cb in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def ranking_distance(judge: Sequence[float], gold: Sequence[float]) -> float:
    """Normalised edit distance between the orders two score lists give (best first).

    >>> ranking_distance([3, 1, 2], [3, 1, 2]), ranking_distance([1, 2, 3], [3, 2, 1])
    (0.0, 0.6666666666666666)
    """
    letters = [chr(ord("A") + k) for k in range(len(judge))]
    by_judge = "".join(letters[k] for k in sorted(range(len(judge)), key=lambda k: -judge[k]))
    by_gold = "".join(letters[k] for k in sorted(range(len(gold)), key=lambda k: -gold[k]))
    return levenshtein(by_judge, by_gold) / max(len(by_judge), 1)


def map_scale(x: np.ndarray, judge_scale: tuple[float, float] | None, gold_scale: tuple[float, float] | None) -> np.ndarray:
    """Map judge scores linearly onto the gold scale (identity unless both scales are given)."""
    if judge_scale is None or gold_scale is None:
        return x
    (jl, jh), (gl, gh) = judge_scale, gold_scale
    return gl + (x - jl) * (gh - gl) / (jh - jl)


def _unit_key(c: PointCase) -> tuple[str | None, str]:
    return (c.group, c.question_id) if c.question_id is not None else (c.group, "\0item:" + c.id)


def _ranking_columns(cases: Sequence[PointCase], sizes: Mapping[tuple[str | None, str], int]) -> dict[str, np.ndarray]:
    """Per-question edit distance placed on the question's first item (``rd``, ``rq``; parsed view ``prd``, ``prq``)."""
    n = len(cases)
    cols = {k: np.zeros(n) for k in ("rd", "rq", "prd", "prq")}
    by_q: dict[tuple[str | None, str], list[int]] = {}
    for i, c in enumerate(cases):
        if c.question_id is not None:
            by_q.setdefault((c.group, c.question_id), []).append(i)
    for key, rows in by_q.items():
        size = max(sizes.get(key, len(rows)), len(rows))
        if size < 2:
            continue
        judged = [cases[i].judge for i in rows]
        complete = len(rows) == size and all(j is not None for j in judged)
        d = ranking_distance([float(j) for j in judged], [cases[i].gold for i in rows]) if complete else 1.0  # type: ignore[arg-type]
        first = rows[0]
        cols["rd"][first], cols["rq"][first] = d, 1.0
        if complete:
            cols["prd"][first], cols["prq"][first] = d, 1.0
    return cols


class _Correlators:
    """Replicate correlations overall (column 0) and per group (columns 1…): contingency tables
    when the distinct value pairs are few, else item-level kernels per subset."""

    def __init__(self, x: np.ndarray, y: np.ndarray, parsed: np.ndarray, strata: np.ndarray, subsets: list[slice]):
        n_groups = len(subsets) - 1
        self.subsets = subsets
        if TableCorrelator.fits(x, y, parsed, max(1, n_groups)):
            self.table: TableCorrelator | None = TableCorrelator(x, y, parsed, strata if n_groups else None,
                                                                 max(1, n_groups))
        else:
            self.table = None
            self.samples = [PairedSample(x[sl][parsed[sl]], y[sl][parsed[sl]]) for sl in subsets]
            self.parsed = parsed

    def __call__(self, w: np.ndarray) -> dict[str, np.ndarray]:
        if self.table is not None:
            return self.table(w)
        out: dict[str, list[np.ndarray]] = {"pearson": [], "spearman": [], "kendall_tau": []}
        for sl, sample in zip(self.subsets, self.samples):
            wp = w[:, sl][:, self.parsed[sl]]
            out["pearson"].append(sample.pearson(wp))
            out["spearman"].append(sample.spearman(wp))
            out["kendall_tau"].append(sample.kendall_b(wp))
        return {k: np.stack(v, axis=1) for k, v in out.items()}


def pointwise_metrics(cases: Sequence[PointCase], *, question_sizes: Mapping[tuple[str | None, str], int] | None = None,
                      judge_scale: tuple[float, float] | None = None, gold_scale: tuple[float, float] | None = None,
                      n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> PointwiseResult:
    """Every pointwise metric with its bootstrap interval, per group and macro-averaged."""
    grouped = any(c.group is not None for c in cases)
    cases = sorted(cases, key=lambda c: c.group or NO_GROUP) if grouped else list(cases)
    n_items = len(cases)
    judge = np.array([c.judge if c.judge is not None else np.nan for c in cases], dtype=float)
    gold = np.array([c.gold for c in cases], dtype=float)
    parsed = ~np.isnan(judge)
    mapped = map_scale(judge, judge_scale, gold_scale)
    x = np.nan_to_num(mapped)
    n_jud = np.array([len(c.scores) for c in cases], dtype=float)
    failed = np.array([sum(s is None for s in c.scores) for c in cases], dtype=float)
    shared = any(v > 1 for v in Counter((c.group, c.question_id) for c in cases if c.question_id is not None).values())
    columns = {"failed": failed, "n_jud": n_jud, "abs_err": np.where(parsed, np.abs(x - gold), 0.0),
               "parsed": parsed.astype(float), "one": np.ones(n_items)}
    linear = {"mae": ("abs_err", "parsed"), "parse_failure_rate": ("failed", "n_jud"), "coverage": ("parsed", "one")}
    if shared:
        columns.update(_ranking_columns(cases, question_sizes or {}))
        linear.update({"ranking_edit_distance": ("rd", "rq"), "p:ranking_edit_distance": ("prd", "prq")})
    li = {k: i for i, k in enumerate(columns)}
    lin = np.stack(list(columns.values()), axis=1) if n_items else np.zeros((0, len(columns)))

    names = sorted({c.group or NO_GROUP for c in cases}) if grouped else []
    strata = np.array([names.index(c.group or NO_GROUP) if grouped else 0 for c in cases], dtype=np.int64)
    units = {k: i for i, k in enumerate(dict.fromkeys(_unit_key(c) for c in cases))}
    clusters = np.array([units[_unit_key(c)] for c in cases], dtype=np.int64)
    bounds = np.searchsorted(strata, np.arange(len(names) + 1))
    subsets = [slice(0, n_items)] + [slice(int(bounds[g]), int(bounds[g + 1])) for g in range(len(names))]
    correlators = _Correlators(x, gold, parsed, strata, subsets)

    def point_of(sl: slice) -> dict[str, float]:
        sums = lin[sl].sum(axis=0)
        out = PairedSample(x[sl][parsed[sl]], gold[sl][parsed[sl]]).point()
        out.update({k: float(ratio(sums[li[a]], sums[li[b]])) for k, (a, b) in linear.items()})
        return out

    points = [point_of(sl) for sl in subsets]
    models = sorted({c.response_model for c, p in zip(cases, parsed) if p and c.response_model is not None})
    onehot = np.zeros((n_items, len(models)))
    for i, c in enumerate(cases):
        if parsed[i] and c.response_model is not None:
            onehot[i, models.index(c.response_model)] = 1.0
    # model sums as a sparse product: a dense one with many model columns can fall off a cliff in
    # multi-threaded BLAS on a busy machine (measured: 41 columns took 25× longer than 20)
    model_cols = sparse.csr_matrix(np.concatenate([onehot, onehot * x[:, None], onehot * gold[:, None]], axis=1))
    reps: list[dict[str, list[np.ndarray]]] = [{} for _ in subsets]
    if n_items and n_resamples > 0:
        for w in Resampler(strata, clusters, n_resamples, seed).weights():
            corr = correlators(w)
            group_sums = [w[:, sl] @ lin[sl] for sl in subsets[1:]]
            for s in range(len(subsets)):
                sums = (sum(group_sums) if group_sums else w @ lin) if s == 0 else group_sums[s - 1]
                got = {k: ratio(sums[:, li[a]], sums[:, li[b]]) for k, (a, b) in linear.items()}
                got.update({k: v[:, s] for k, v in corr.items()})
                for k, v in got.items():
                    reps[s].setdefault(k, []).append(v)
            if models:
                ms = np.asarray(w @ model_cols)
                k = len(models)
                sp, kt = row_rank_correlations(ratio(ms[:, k:2 * k], ms[:, :k]), ratio(ms[:, 2 * k:], ms[:, :k]))
                reps[0].setdefault("model_spearman", []).append(sp)
                reps[0].setdefault("model_kendall_tau", []).append(kt)
    cat = [{k: np.concatenate(v) for k, v in r.items()} for r in reps]
    keys = list(METRICS) + (["ranking_edit_distance"] if shared else [])

    def estimates(s: int) -> dict[str, Estimate]:
        return {k: Estimate.of(points[s].get(k), cat[s].get(k), confidence) for k in keys}

    metrics = estimates(0)
    model_table: list[dict] = []
    if models:
        cnt = onehot.sum(axis=0)
        mj, mg = (onehot * x[:, None]).sum(axis=0) / cnt, (onehot * gold[:, None]).sum(axis=0) / cnt
        model_table = [{"model": m, "n": int(cnt[k]), "judge_mean": float(mj[k]), "gold_mean": float(mg[k])}
                       for k, m in enumerate(models)]
        sp = kt = np.nan
        if len(models) >= 2:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sp = float(stats.spearmanr(mj, mg).statistic)
                kt = float(stats.kendalltau(mj, mg, variant="b").statistic)
        metrics["model_kendall_tau"] = Estimate.of(kt, cat[0].get("model_kendall_tau"), confidence)
        metrics["model_spearman"] = Estimate.of(sp, cat[0].get("model_spearman"), confidence)
    parsed_only = ({"ranking_edit_distance": Estimate.of(points[0].get("p:ranking_edit_distance"),
                                                         cat[0].get("p:ranking_edit_distance"), confidence)}
                   if shared else {})
    groups = {g: PointwiseGroup(int(parsed[sl].sum()), int(n_jud[sl].sum()), estimates(s), int(np.unique(clusters[sl]).size))
              for s, (g, sl) in enumerate(zip(names, subsets[1:]), start=1)}
    macro: dict[str, Estimate] = {}
    if groups:
        for k in keys:
            pts = np.array([points[s].get(k, np.nan) for s in range(1, len(subsets))], dtype=float)
            rep = None
            if cat[1].get(k) is not None:
                stacked = np.stack([cat[s][k] for s in range(1, len(subsets))])
                counts = np.isfinite(stacked).sum(axis=0)
                rep = np.where(counts > 0, np.nansum(stacked, axis=0) / np.maximum(counts, 1), np.nan)
            macro[k] = Estimate.of(float(np.nanmean(pts)) if np.isfinite(pts).any() else None, rep, confidence)
    return PointwiseResult(
        n=int(parsed.sum()), n_items=n_items, n_judgments=int(n_jud.sum()), metrics=metrics, parsed_only=parsed_only,
        groups=groups, macro=macro, models=model_table,
        scales={"judge": list(judge_scale) if judge_scale else None, "gold": list(gold_scale) if gold_scale else None,
                "mae_on": "gold scale (judge scores mapped linearly)" if judge_scale and gold_scale else "raw scores"},
        judge_scores=mapped[parsed], judge_raw=judge[parsed], gold_scores=gold[parsed],
    )


__all__ = ["CORRELATIONS", "METRICS", "PointCase", "PointwiseGroup", "PointwiseResult", "levenshtein", "map_scale",
           "pointwise_metrics", "ranking_distance"]

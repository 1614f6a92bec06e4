"""PNG plots of an evaluation (matplotlib, Agg canvas; no pyplot state, no display needed).

- ``confusion.png``: gold label × judge verdict counts, ties and parse failures included;
- ``pairwise_metrics.png`` / ``pointwise_metrics.png``: the headline metrics with their intervals;
- ``pairwise_groups.png`` / ``pointwise_groups.png``: one metric per group with intervals, plus the
  overall value and the macro average;
- ``scores_heatmap.png``: judge score against gold score (a count heat map when both take few
  values, else a scatter);
- ``score_distributions.png``: the two score distributions side by side (as LLaVA-Critic's figure
  comparing its scores with GPT-4o's).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from critic.evaluation.bootstrap import Estimate

MAX_HEATMAP_VALUES = 30


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _bars(path: Path, title: str, labels: Sequence[str], ests: Sequence[Estimate], ylabel: str,
          ylim: tuple[float, float] | None = (0.0, 1.0)) -> Path:
    fig = Figure(figsize=(max(4.0, 0.75 * len(labels) + 2), 3.6))
    ax = fig.add_subplot()
    vals = np.array([e.value if e.value is not None else np.nan for e in ests], dtype=float)
    lo = np.array([e.value - e.ci[0] if e.ci and e.value is not None else 0.0 for e in ests])
    hi = np.array([e.ci[1] - e.value if e.ci and e.value is not None else 0.0 for e in ests])
    x = np.arange(len(labels))
    ax.bar(x, np.nan_to_num(vals), yerr=[lo, hi], capsize=4, color="#4C72B0")
    for xi, v in zip(x, vals):
        ax.text(xi, 0.01 if np.isnan(v) else v, "n/a" if np.isnan(v) else f"{v:.2f}", ha="center", va="bottom",
                fontsize=8)
    ax.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if ylim is not None:
        low = min(ylim[0], float(np.nanmin(np.append(vals, 0)))) if np.isfinite(vals).any() else ylim[0]
        ax.set_ylim(low, ylim[1] + 0.08 * (ylim[1] - low))
    return _save(fig, path)


def confusion_plot(confusion: dict[str, dict[str, int]], path: Path) -> Path:
    rows, cols = list(confusion), ["A", "B", "tie", "failed"]
    m = np.array([[confusion[r][c] for c in cols] for r in rows], dtype=float)
    fig = Figure(figsize=(4.6, 3.6))
    ax = fig.add_subplot()
    im = ax.imshow(m, cmap="Blues")
    for i in range(len(rows)):
        for j in range(len(cols)):
            ax.text(j, i, str(int(m[i, j])), ha="center", va="center",
                    color="white" if m[i, j] > m.max() / 2 else "black", fontsize=9)
    ax.set_xticks(range(len(cols)), cols)
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel("judge verdict")
    ax.set_ylabel("gold label")
    ax.set_title("Pairwise confusion (judgments)", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046)
    return _save(fig, path)


def scores_plot(judge: np.ndarray, gold: np.ndarray, path: Path) -> Path:
    """Judge score (its own scale) against gold score: counts when both take few values, else points."""
    fig = Figure(figsize=(4.8, 4.0))
    ax = fig.add_subplot()
    ug, uj = np.unique(gold), np.unique(judge)
    if ug.size <= MAX_HEATMAP_VALUES and uj.size <= MAX_HEATMAP_VALUES:
        table = np.zeros((uj.size, ug.size))
        np.add.at(table, (np.searchsorted(uj, judge), np.searchsorted(ug, gold)), 1)
        im = ax.imshow(table, origin="lower", cmap="viridis", aspect="auto")
        ax.set_xticks(range(ug.size), [f"{v:g}" for v in ug], fontsize=7)
        ax.set_yticks(range(uj.size), [f"{v:g}" for v in uj], fontsize=7)
        fig.colorbar(im, ax=ax, fraction=0.046, label="items")
        ax.set_title("Judge vs gold score (counts)", fontsize=10)
    else:
        step = float(np.min(np.diff(ug))) if 1 < ug.size <= MAX_HEATMAP_VALUES else 0.0
        jitter = np.random.default_rng(0).uniform(-0.15, 0.15, gold.size) * step
        ax.scatter(gold + jitter, judge, s=8, alpha=0.35)
        ax.set_title("Judge vs gold score", fontsize=10)
    ax.set_xlabel("gold score")
    ax.set_ylabel("judge score")
    return _save(fig, path)


def distributions_plot(judge: np.ndarray, gold: np.ndarray, path: Path) -> Path:
    """Both score distributions on the gold scale: bars per gold value when the gold takes few
    values (judge scores counted at the nearest one), else a common histogram."""
    fig = Figure(figsize=(5.6, 3.4))
    ax = fig.add_subplot()
    ug = np.unique(gold)
    if 1 < ug.size <= MAX_HEATMAP_VALUES:
        mids = (ug[1:] + ug[:-1]) / 2
        edges = np.concatenate([[-np.inf], mids, [np.inf]])
        width = 0.4 * float(np.min(np.diff(ug)))
        for off, v, name in ((-width / 2, judge, "judge"), (width / 2, gold, "gold")):
            counts = np.histogram(v, bins=edges)[0] / max(v.size, 1)
            ax.bar(ug + off, counts, width=width, label=name)
        ax.set_xticks(ug, [f"{u:g}" for u in ug])
    else:
        both = np.concatenate([judge, gold])
        bins = np.histogram_bin_edges(both, bins=20) if both.size else 10
        ax.hist([judge, gold], bins=bins, label=["judge", "gold"],
                weights=[np.full(judge.size, 1 / max(judge.size, 1)), np.full(gold.size, 1 / max(gold.size, 1))])
    ax.set_xlabel("score (gold scale)")
    ax.set_ylabel("share of items")
    ax.set_title("Score distributions: judge vs gold", fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, path)


def make_plots(report: Any, out: Path) -> list[Path]:
    """Write every plot the report has data for into ``out``; returns the files written."""
    files: list[Path] = []
    pw = report.pairwise
    if pw is not None:
        files.append(confusion_plot(pw.confusion, out / "confusion.png"))
        keys = [k for k in ("accuracy_with_ties", "accuracy_without_ties", "accuracy_original", "accuracy_swapped",
                            "accuracy_both", "consistency", "tie_rate", "first_position_rate", "parse_failure_rate",
                            "accuracy_plus") if pw.metrics[k].value is not None]
        files.append(_bars(out / "pairwise_metrics.png", "Pairwise metrics (95 % CI)", keys,
                           [pw.metrics[k] for k in keys], "rate"))
        if pw.groups:
            labels = [*pw.groups, "overall", "macro"]
            ests = [g.metrics["accuracy_with_ties"] for g in pw.groups.values()]
            ests += [pw.metrics["accuracy_with_ties"], pw.macro["accuracy_with_ties"]]
            files.append(_bars(out / "pairwise_groups.png", "accuracy_with_ties per group (95 % CI)", labels, ests,
                               "accuracy"))
    pt = report.pointwise
    if pt is not None:
        keys = [k for k in ("pearson", "spearman", "kendall_tau", "model_kendall_tau", "model_spearman")
                if k in pt.metrics and pt.metrics[k].value is not None]
        if keys:
            files.append(_bars(out / "pointwise_metrics.png", "Pointwise correlations (95 % CI)", keys,
                               [pt.metrics[k] for k in keys], "correlation", (-1.0, 1.0)))
        if pt.groups:
            labels = [*pt.groups, "overall", "macro"]
            ests = [g.metrics["pearson"] for g in pt.groups.values()] + [pt.metrics["pearson"], pt.macro["pearson"]]
            files.append(_bars(out / "pointwise_groups.png", "pearson per group (95 % CI)", labels, ests,
                               "correlation", (-1.0, 1.0)))
        if pt.judge_scores.size:
            files.append(scores_plot(pt.judge_raw, pt.gold_scores, out / "scores_heatmap.png"))
            files.append(distributions_plot(pt.judge_scores, pt.gold_scores, out / "score_distributions.png"))
    return files


__all__ = ["confusion_plot", "distributions_plot", "make_plots", "scores_plot"]

"""PNG plots of an evaluation (matplotlib, Agg canvas; no pyplot state, no display needed).

- ``confusion.png``: gold label × judge verdict counts, ties and parse failures included;
- ``pairwise_metrics.png``: the headline metrics with their intervals, one panel per kind of metric
  (agreement: higher is better; position and tie rates: compared with a reference line, 0.5 for
  "no position bias" and the gold's own rates; parse failures: lower is better, on its own axis);
- ``pointwise_metrics.png``: the correlations with intervals, 0 ("no correlation") drawn;
- ``pairwise_groups.png`` / ``pointwise_groups.png``: one metric per group with intervals and each
  group's count, then, set apart, the overall value and the macro average;
- ``scores_heatmap.png``: judge score (on the gold scale when the scales are known) against gold
  score, both on their true numeric scale with the diagonal drawn: integer counts per cell when
  both take few values, else a scatter;
- ``score_distributions.png``: the two score distributions side by side (as LLaVA-Critic's figure
  comparing its scores with GPT-4o's).

Value labels sit above the upper end of each interval, so they never cross an error bar. The
``*_figure`` functions return the figure (the tests read its texts and lines); the others save it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from critic.evaluation.bootstrap import Estimate

MAX_HEATMAP_VALUES = 30
MAX_ANNOTATED_CELLS = 150
BAR = "#4C72B0"
SUMMARY = "#55585E"
REF = "#C44E52"


@dataclass
class Panel:
    """One axis of bars of one kind; ``refs`` is a reference value per bar (or ``None``)."""

    title: str
    labels: Sequence[str]
    ests: Sequence[Estimate]
    ylim: tuple[float, float] | None = (0.0, 1.0)
    refs: Sequence[tuple[float, str] | None] = ()
    colors: Sequence[str] = ()
    hline: tuple[float, str] | None = None
    split_after: int | None = None  # a separator after this many bars (groups | overall, macro)
    ylabel: str = ""


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _draw(ax: Any, p: Panel) -> None:
    vals = np.array([e.value if e.value is not None else np.nan for e in p.ests], dtype=float)
    # clipped at 0: a bound can round past its value (a collapsed interval), and matplotlib refuses negative errors
    lo = np.array([max(e.value - e.ci[0], 0.0) if e.ci and e.value is not None else 0.0 for e in p.ests])
    hi = np.array([max(e.ci[1] - e.value, 0.0) if e.ci and e.value is not None else 0.0 for e in p.ests])
    x = np.arange(len(p.labels), dtype=float)
    if p.split_after is not None:
        x[p.split_after:] += 0.6
    colors = list(p.colors) or [BAR] * len(x)
    ax.bar(x, np.nan_to_num(vals), yerr=[lo, hi], capsize=4, color=colors, error_kw={"elinewidth": 1})
    top = np.nan_to_num(vals) + hi
    ymin, ymax = p.ylim if p.ylim is not None else (min(0.0, float(np.nanmin(np.append(vals - lo, 0)))),
                                                     float(np.nanmax(np.append(top, 0.05))) * 1.15)
    pad = 0.03 * (ymax - ymin)
    for xi, v, t in zip(x, vals, top):
        ax.text(xi, (ymin if np.isnan(v) else max(t, 0.0)) + pad, "n/a" if np.isnan(v) else f"{v:.2f}",
                ha="center", va="bottom", fontsize=8)
    ref_drawn: set[str] = set()
    for xi, ref in zip(x, p.refs):
        if ref is not None:
            ax.hlines(ref[0], xi - 0.45, xi + 0.45, colors=REF, linestyles="--", linewidth=1.5,
                      label=None if ref[1] in ref_drawn else ref[1])
            ref_drawn.add(ref[1])
    if p.hline is not None:
        ax.axhline(p.hline[0], color=REF, linestyle="--", linewidth=1, label=p.hline[1])
    if p.split_after is not None and 0 < p.split_after < len(x):
        ax.axvline((x[p.split_after - 1] + x[p.split_after]) / 2, color="#999999", linewidth=1, linestyle=":")
    if ref_drawn or p.hline is not None:
        ax.legend(fontsize=6.5, loc="upper right", framealpha=0.9)
    ax.set_xticks(x, p.labels, rotation=30, ha="right", fontsize=8)
    ax.set_title(p.title, fontsize=9)
    if p.ylabel:
        ax.set_ylabel(p.ylabel)
    label_top = float(np.nanmax(np.append(top, ymin))) + 4 * pad  # room for the value labels
    legend_room = 8 * pad if ref_drawn or p.hline is not None else 0.0
    ax.set_ylim(min(ymin, float(np.nanmin(np.append(vals - lo, ymin)))), max(ymax, label_top) + legend_room)


def panels_figure(panels: Sequence[Panel], suptitle: str | None = None) -> Figure:
    """Panels side by side, each as wide as its number of bars."""
    widths = [max(1.9, 0.62 * len(p.labels) + 1.1) for p in panels]
    fig = Figure(figsize=(max(4.2, sum(widths) + 0.4), 3.8))
    axes = fig.subplots(1, len(panels), gridspec_kw={"width_ratios": widths}, squeeze=False)[0]
    for ax, p in zip(axes, panels):
        _draw(ax, p)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return fig


AGREEMENT = ("accuracy_with_ties", "accuracy_without_ties", "accuracy_original", "accuracy_swapped", "accuracy_both",
             "accuracy_plus", "consistency")


def pairwise_metrics_figure(pw: Any) -> Figure:
    """Agreement (higher is better) | position and tie rates against their references | parse failures
    (lower is better): three kinds, three axes."""
    m = pw.metrics
    keys = [k for k in AGREEMENT if m[k].value is not None]
    panels = [Panel("agreement: higher is better", keys, [m[k] for k in keys])]
    rate_keys: list[str] = []
    refs: list[tuple[float, str] | None] = []
    if m["first_position_rate"].value is not None:
        rate_keys.append("first_position_rate")
        refs.append((0.5, "0.5 = no position bias"))
    if m["tie_rate"].value is not None:
        rate_keys.append("tie_rate")
        gold_tie = pw.extras.get("gold_tie_rate")
        refs.append((gold_tie, "the gold's tie rate") if gold_tie is not None else None)
    if rate_keys:
        panels.append(Panel("vs reference (dashed)", rate_keys, [m[k] for k in rate_keys], refs=refs))
    pf = m["parse_failure_rate"]
    if pf.value is not None:
        upper = pf.ci[1] if pf.ci else pf.value
        panels.append(Panel("lower is better", ["parse_failure_rate"], [pf], ylim=(0.0, max(0.05, 1.3 * upper))))
    return panels_figure(panels, "Pairwise metrics (95 % CI)")


def groups_figure(title: str, groups: dict[str, Any], metric: str, overall: Estimate, macro: Estimate,
                  count: str, n_overall: int, ylim: tuple[float, float], hline: tuple[float, str] | None = None) -> Figure:
    """One bar per group labelled with its count, then overall and macro, set apart in another colour."""
    labels = [f"{name}\nn={getattr(g, count)}" for name, g in groups.items()]
    labels += [f"overall\nn={n_overall}", f"macro\n{len(groups)} groups"]
    ests = [g.metrics[metric] for g in groups.values()] + [overall, macro]
    colors = [BAR] * len(groups) + [SUMMARY, SUMMARY]
    return panels_figure([Panel(title, labels, ests, ylim=ylim, colors=colors, split_after=len(groups), hline=hline,
                                ylabel=metric)])


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
    fig.colorbar(im, ax=ax, fraction=0.046, ticks=MaxNLocator(integer=True))
    return _save(fig, path)


def _step(u: np.ndarray) -> float:
    return float(np.min(np.diff(u))) if u.size > 1 else 1.0


def scores_figure(judge: np.ndarray, gold: np.ndarray, judge_label: str = "judge score") -> Figure:
    """Judge against gold on their true numeric scales, diagonal drawn: a cell per (gold, judge) value
    pair coloured and labelled with its integer count when both take few values, else points."""
    fig = Figure(figsize=(5.0, 4.2))
    ax = fig.add_subplot()
    ug, uj = np.unique(gold), np.unique(judge)
    lo, hi = (float(min(gold.min(), judge.min())), float(max(gold.max(), judge.max()))) if gold.size else (0.0, 1.0)
    if ug.size <= MAX_HEATMAP_VALUES and uj.size <= MAX_HEATMAP_VALUES:
        wg, wj = _step(ug), _step(uj)
        pairs, counts = np.unique(np.stack([gold, judge], axis=1), axis=0, return_counts=True)
        cells = [Rectangle((g - wg / 2, j - wj / 2), wg, wj) for g, j in pairs]
        coll = PatchCollection(cells, cmap="viridis", edgecolor="white", linewidth=0.5)
        coll.set_array(counts.astype(float))
        ax.add_collection(coll)
        if len(pairs) <= MAX_ANNOTATED_CELLS:
            top = counts.max(initial=1)
            for (g, j), c in zip(pairs, counts):
                ax.text(g, j, str(int(c)), ha="center", va="center", fontsize=7,
                        color="black" if c > 0.6 * top else "white")
        fig.colorbar(coll, ax=ax, fraction=0.046, label="items", ticks=MaxNLocator(integer=True))
        ax.set_xlim(min(lo, ug.min() - wg / 2), max(hi, ug.max() + wg / 2))
        ax.set_ylim(min(lo, uj.min() - wj / 2), max(hi, uj.max() + wj / 2))
        ax.set_title("Judge vs gold score (items per cell)", fontsize=10)
    else:
        step = _step(ug) if 1 < ug.size <= MAX_HEATMAP_VALUES else 0.0
        jitter = np.random.default_rng(0).uniform(-0.15, 0.15, gold.size) * step
        ax.scatter(gold + jitter, judge, s=8, alpha=0.35)
        ax.set_title("Judge vs gold score", fontsize=10)
    ax.plot([lo, hi], [lo, hi], color=REF, linestyle="--", linewidth=1, label="judge = gold")
    ax.legend(fontsize=7, loc="upper left")
    ax.set_xlabel("gold score")
    ax.set_ylabel(judge_label)
    return fig


def scores_plot(judge: np.ndarray, gold: np.ndarray, path: Path, judge_label: str = "judge score") -> Path:
    return _save(scores_figure(judge, gold, judge_label), path)


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
        files.append(_save(pairwise_metrics_figure(pw), out / "pairwise_metrics.png"))
        if pw.groups:
            fig = groups_figure("accuracy_with_ties per group (95 % CI)", pw.groups, "accuracy_with_ties",
                                pw.metrics["accuracy_with_ties"], pw.macro["accuracy_with_ties"], "n_items",
                                pw.n_items, (0.0, 1.0))
            files.append(_save(fig, out / "pairwise_groups.png"))
    pt = report.pointwise
    if pt is not None:
        keys = [k for k in ("pearson", "spearman", "kendall_tau", "model_kendall_tau", "model_spearman")
                if k in pt.metrics and pt.metrics[k].value is not None]
        zero = (0.0, "0 = no correlation")
        if keys:
            fig = panels_figure([Panel("correlation with gold: higher is better", keys, [pt.metrics[k] for k in keys],
                                       ylim=(-1.0, 1.0), hline=zero)], "Pointwise correlations (95 % CI)")
            files.append(_save(fig, out / "pointwise_metrics.png"))
        if pt.groups:
            fig = groups_figure("pearson per group (95 % CI)", pt.groups, "pearson", pt.metrics["pearson"],
                                pt.macro["pearson"], "n", pt.n, (-1.0, 1.0), hline=zero)
            files.append(_save(fig, out / "pointwise_groups.png"))
        if pt.judge_scores.size:
            mapped = bool((pt.scales or {}).get("judge") and (pt.scales or {}).get("gold"))
            label = "judge score (mapped onto the gold scale)" if mapped else "judge score"
            files.append(scores_plot(pt.judge_scores, pt.gold_scores, out / "scores_heatmap.png", label))
            files.append(distributions_plot(pt.judge_scores, pt.gold_scores, out / "score_distributions.png"))
    from critic.evaluation.trust_report import trust_plots

    files += trust_plots(report.to_dict(), out)
    return files


__all__ = ["Panel", "confusion_plot", "distributions_plot", "groups_figure", "make_plots", "pairwise_metrics_figure",
           "panels_figure", "scores_figure", "scores_plot"]

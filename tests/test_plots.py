"""The evaluation plots are readable: kinds of metric on their own axes with reference lines, value labels
clear of the error bars, the score heat map on a true scale with the diagonal and integer counts, groups
with their counts and overall / macro set apart."""

from __future__ import annotations

import numpy as np

from critic.evaluation.bootstrap import Estimate
from critic.evaluation.evaluate import evaluate
from critic.evaluation.plots import (
    Panel,
    groups_figure,
    pairwise_metrics_figure,
    panels_figure,
    scores_figure,
)
from critic.records import PairwiseJudgment

META = dict(template="t", template_hash="h", judge="j")


def _pairwise_report():
    gold, js = [], []
    for i in range(40):
        label = "tie" if i % 10 == 0 else "AB"[i % 2]
        gold.append({"id": str(i), "label": label, "group": ("colour", "shape")[i % 4 == 0]})
        for swapped in (False, True):
            w = None if i == 3 and swapped else label if i % 7 else "A"
            js.append(PairwiseJudgment(id=str(i), winner=w, swapped=swapped, **META,
                                       **({"parse_error": "none"} if w is None else {})))
    return evaluate(gold, js, n_resamples=50).pairwise


def _texts(ax):
    return {t.get_text(): t for t in ax.texts}


def test_pairwise_metric_kinds_get_their_own_axes_and_references():
    fig = pairwise_metrics_figure(_pairwise_report())
    agree, rates, failures = fig.axes
    assert "higher is better" in agree.get_title() and "lower is better" in failures.get_title()
    assert [t.get_text() for t in rates.get_xticklabels()] == ["first_position_rate", "tie_rate"]
    assert "parse_failure_rate" not in {t.get_text() for t in agree.get_xticklabels()}
    legend = [t.get_text() for t in rates.get_legend().get_texts()]
    assert legend == ["0.5 = no position bias", "the gold's tie rate"]
    assert failures.get_ylim()[1] < 0.5  # a small rate on its own scale, not flattened on [0, 1]


def test_value_labels_sit_above_the_error_bars():
    ests = [Estimate(0.5, (0.2, 0.9)), Estimate(0.8, (0.75, 0.85)), Estimate(None, None)]
    fig = panels_figure([Panel("t", ["a", "b", "c"], ests)])
    ax = fig.axes[0]
    texts = _texts(ax)
    assert texts["0.50"].get_position()[1] > 0.9 and texts["0.80"].get_position()[1] > 0.85
    assert "n/a" in texts
    assert ax.get_ylim()[1] > texts["0.50"].get_position()[1]  # the label is inside the axes


def test_groups_show_counts_and_overall_macro_apart():
    pw = _pairwise_report()
    fig = groups_figure("acc", pw.groups, "accuracy_with_ties", pw.metrics["accuracy_with_ties"],
                        pw.macro["accuracy_with_ties"], "n_items", pw.n_items, (0.0, 1.0))
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["colour\nn=30", "shape\nn=10", "overall\nn=40", "macro\n2 groups"]
    xs = [p.get_x() + p.get_width() / 2 for p in ax.patches]
    assert xs[2] - xs[1] > xs[1] - xs[0]  # a gap before overall
    assert ax.patches[0].get_facecolor() != ax.patches[2].get_facecolor()
    assert any(line.get_linestyle() == ":" for line in ax.lines)  # the separator


def test_score_heatmap_is_on_a_true_scale_with_the_diagonal_and_integer_counts():
    gold = np.array([1, 1, 2, 5, 5, 5], dtype=float)  # 3 and 4 absent: the axis still spaces 2 → 5 as 3 steps
    judge = np.array([1, 2, 2, 5, 5, 4.5])
    fig = scores_figure(judge, gold)
    ax = fig.axes[0]
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == ["1", "1", "1", "1", "2"]  # integer counts, one per occupied cell
    cell = {t.get_text(): t.get_position() for t in ax.texts if t.get_text() == "2"}
    assert cell["2"] == (5.0, 5.0)  # placed at the data values, not at category indices
    diag = [line for line in ax.lines if line.get_label() == "judge = gold"]
    assert diag and list(diag[0].get_xdata()) == list(diag[0].get_ydata())
    ticks = fig.axes[1].get_yticks()
    assert all(float(t).is_integer() for t in ticks)  # the colour bar counts items

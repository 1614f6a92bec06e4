"""Human-readable evaluation reports: ``report.md``, the short table ``critic eval`` prints, and the
side-by-side table of ``critic eval --compare``.

Everything here reads the ``report.json`` layout (:meth:`critic.evaluation.evaluate.Report.to_dict`), so a
comparison works on report folders written by any earlier run.

>>> fmt(0.81234), fmt(None), fmt_ci([0.7, 0.9])
('0.812', '—', '[0.700, 0.900]')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from critic.evaluation.metrics_pairwise import METRICS as PAIRWISE_METRICS
from critic.evaluation.metrics_pairwise import PARSED_ONLY
from critic.evaluation.metrics_pointwise import METRICS as POINTWISE_METRICS

POINTWISE_EXTRA = ("model_kendall_tau", "model_spearman", "ranking_edit_distance")
GROUP_COLUMNS = {
    "pairwise": ("accuracy_with_ties", "accuracy_without_ties", "consistency", "tie_rate", "parse_failure_rate"),
    "pointwise": ("pearson", "spearman", "kendall_tau", "mae", "parse_failure_rate"),
}
COMPARE_ROWS = {
    "pairwise": ("n_items", "n_judgments", *PAIRWISE_METRICS),
    "pointwise": ("n", "n_judgments", *POINTWISE_METRICS, *POINTWISE_EXTRA),
}


def fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def fmt_ci(ci: Sequence[float] | None) -> str:
    return "—" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _metric_names(section: str, data: dict[str, Any]) -> list[str]:
    base = PAIRWISE_METRICS if section == "pairwise" else (*POINTWISE_METRICS, *POINTWISE_EXTRA)
    return [m for m in base if m in data]


def _headline(section: str, data: dict[str, Any]) -> list[str]:
    parsed = data.get("parsed_only", {})
    rows = []
    for m in _metric_names(section, data):
        row = [f"`{m}`", fmt(data[m]), fmt_ci(data.get(f"{m}_ci"))]
        if section == "pairwise":
            row.append(fmt(parsed.get(m)) if m in PARSED_ONLY else "")
        rows.append(row)
    header = ["metric", "value", "95 % CI"] + (["parse failures left out"] if section == "pairwise" else [])
    return _table(header, rows)


def _cell(d: dict[str, Any], key: str) -> str:
    """A value and its interval; a group of one question has no estimable interval (every resample
    draws that question, so the interval collapses onto the value), which is said rather than shown.

    >>> _cell({"mae": 1.0, "mae_ci": [1.0, 1.0], "n_questions": 1}, "mae")
    '1.000 n/a (1 question)'
    """
    if d.get(key) is None:
        return "—"
    ci = "n/a (1 question)" if d.get("n_questions") == 1 else fmt_ci(d.get(key + "_ci"))
    return f"{fmt(d[key])} {ci}"


def _groups(section: str, data: dict[str, Any]) -> list[str]:
    groups = data.get("groups") or {}
    if not groups:
        return []
    cols = GROUP_COLUMNS[section]
    size_key = "n_items" if section == "pairwise" else "n"
    rows = [[g, fmt(d[size_key]), fmt(d["n_judgments"]), *[_cell(d, c) for c in cols]] for g, d in groups.items()]
    macro = data.get("macro") or {}
    rows.append(["**macro average**", "", "", *[_cell(macro, c) for c in cols]])
    lines = ["", "### Per group", "", "Macro average: the unweighted mean of the group values.", ""]
    return lines + _table(["group", "items" if section == "pairwise" else "scored items", "judgments", *cols], rows)


def _examples(data: dict[str, Any]) -> list[str]:
    lines = ["", "### Parse failures", "",
             f"Parse failure rate {fmt(data.get('parse_failure_rate'))} {fmt_ci(data.get('parse_failure_rate_ci'))}. "
             "They count as wrong in the accuracies above."]
    for ex in data.get("parse_failure_examples", []):
        where = f" (swapped={ex['swapped']})" if "swapped" in ex else ""
        raw = " ".join(ex["raw"].split()) or "(empty)"
        lines += ["", f"- `{ex['id']}`{where}: {ex['parse_error']}", f"  > {raw}"]
    return lines


def _pairwise(data: dict[str, Any]) -> list[str]:
    lines = ["## Pairwise", "", f"{data['n_items']} items, {data['n_judgments']} judgments "
             f"({data.get('n_items_both_orders', 0)} items judged in both orders, "
             f"{data.get('n_items_one_order', 0)} in one).", ""]
    lines += _headline("pairwise", data)
    lines += _groups("pairwise", data)
    lines += ["", "### Position bias and ties", "",
              f"- Response shown first wins {fmt(data.get('first_position_rate'))} "
              f"{fmt_ci(data.get('first_position_rate_ci'))} of decisive verdicts; the gold winner is shown first "
              f"in {fmt(data.get('gold_first_position_rate'))} of judgments with a decisive gold (0.5 = no preference).",
              f"- Accuracy in the original order {fmt(data.get('accuracy_original'))}, in the swapped order "
              f"{fmt(data.get('accuracy_swapped'))}; consistency across orders {fmt(data.get('consistency'))}.",
              f"- The judge says tie in {fmt(data.get('tie_rate'))} of parsed verdicts; the gold is a tie for "
              f"{fmt(data.get('gold_tie_rate'))} of items."]
    conf = data.get("confusion") or {}
    if conf:
        lines += ["", "### Confusion (judgments; rows gold, columns judge)", ""]
        lines += _table(["gold \\ judge", "A", "B", "tie", "failed"],
                        [[g, *[str(row[w]) for w in ("A", "B", "tie", "failed")]] for g, row in conf.items()])
    return lines + _trust(data) + _examples(data)


def _trust(data: dict[str, Any]) -> list[str]:
    from critic.evaluation.trust_report import trust_markdown

    return trust_markdown(data)


def _pointwise(data: dict[str, Any]) -> list[str]:
    scales = data.get("scales") or {}
    lines = ["## Pointwise", "", f"{data['n']} of {data['n_items']} judged items have a parsed score "
             f"({data['n_judgments']} judgments); MAE on {scales.get('mae_on', 'raw scores')}.", ""]
    lines += _headline("pointwise", data)
    if "ranking_edit_distance" in data:
        lines += ["", "`ranking_edit_distance`: normalised Levenshtein distance between the judge's and the gold "
                  f"order of each question's responses (lower is better); parse failures left out: "
                  f"{fmt(data.get('parsed_only', {}).get('ranking_edit_distance'))}."]
    lines += _groups("pointwise", data)
    if data.get("models"):
        lines += ["", "### Models (mean score per model)", ""]
        lines += _table(["model", "items", "judge mean", "gold mean"],
                        [[m["model"], str(m["n"]), fmt(m["judge_mean"]), fmt(m["gold_mean"])] for m in data["models"]])
    dist = data.get("distribution") or {}
    if dist.get("judge"):
        lines += ["", "### Score distributions", ""]
        lines += _table(["", "mean", "std", "min", "max"],
                        [[k, *[fmt(dist[k][s]) for s in ("mean", "std", "min", "max")]] for k in ("judge", "gold")])
    return lines + _trust(data) + _examples(data)


def _inputs(inp: dict[str, Any]) -> list[str]:
    lines = ["## Inputs", "", f"- gold: `{inp['gold']}` ({inp['n_gold']['pairwise']} pairwise, "
             f"{inp['n_gold']['pointwise']} pointwise; unjudged: {inp['n_gold_unjudged']['pairwise']} pairwise, "
             f"{inp['n_gold_unjudged']['pointwise']} pointwise)",
             f"- judgments: `{inp['judgments']}`",
             f"- bad lines: {inp['n_gold_problems']} in gold, {inp['n_judgment_problems']} in judgments (skipped)",
             f"- judgments with `error` (no output, not counted anywhere): {inp['n_error_judgments']}",
             f"- judgments without a matching gold: {inp['n_unmatched_judgments']}"]
    for key in ("gold_problems", "judgment_problems", "error_judgments", "unmatched_judgments"):
        if inp.get(key):
            lines += ["", f"{key.replace('_', ' ')} (first {len(inp[key])}):", ""]
            lines += [f"- `{p}`" for p in inp[key]]
    return lines


def render_markdown(report: Any, plot_files: Sequence[str] = ()) -> str:
    """The ``report.md`` text of a :class:`critic.evaluation.evaluate.Report` (or of its ``to_dict()``)."""
    data = report if isinstance(report, dict) else report.to_dict()
    b = data["bootstrap"]
    lines = ["# Judge evaluation", "",
             f"Judge: {', '.join(f'`{j}`' for j in data['judges']) or '—'}; templates: "
             f"{', '.join(f'`{t}`' for t in data['templates']) or '—'}.", "",
             f"Intervals: {int(b['confidence'] * 100)} % percentile bootstrap, {b['n_resamples']} resamples of "
             f"{b['unit']}, stratified by {b['strata']}.", ""]
    lines += [f"> {n}" for n in data["notes"]]
    for name, fn in (("pairwise", _pairwise), ("pointwise", _pointwise)):
        if name in data:
            lines += ["", *fn(data[name])]
    lines += ["", *_inputs(data["inputs"])]
    if plot_files:
        lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plot_files]
    return "\n".join(lines) + "\n"


def short_table(report: Any) -> str:
    """The few lines ``critic eval`` prints: each metric, its value and interval."""
    data = report if isinstance(report, dict) else report.to_dict()
    lines = []
    for section in ("pairwise", "pointwise"):
        if section not in data:
            continue
        d = data[section]
        size = f"{d['n_items']} items" if section == "pairwise" else f"{d['n']} scored items"
        lines.append(f"{section}: {size}, {d['n_judgments']} judgments")
        for m in _metric_names(section, d):
            lines.append(f"  {m:<24} {fmt(d[m]):>7}  {fmt_ci(d.get(m + '_ci'))}")
        if d.get("macro"):
            key = "accuracy_with_ties" if section == "pairwise" else "pearson"
            lines.append(f"  {'macro ' + key:<24} {fmt(d['macro'].get(key)):>7}  {fmt_ci(d['macro'].get(key + '_ci'))}")
    return "\n".join(lines) if lines else "no judgment matched a gold label"


def compare_table(named: Sequence[tuple[str, dict[str, Any]]]) -> str:
    """Several ``report.json`` contents side by side: one column per judge, one row per metric."""
    lines: list[str] = []
    for section in ("pairwise", "pointwise"):
        present = [(n, d[section]) for n, d in named if section in d]
        if not present:
            continue
        rows = []
        for m in COMPARE_ROWS[section]:
            if not any(m in d for _, d in present):
                continue
            cells = [fmt(d.get(m)) + (f" {fmt_ci(d[m + '_ci'])}" if d.get(m + "_ci") else "") for _, d in present]
            rows.append([f"`{m}`", *cells])
        macro_key = "accuracy_with_ties" if section == "pairwise" else "pearson"
        if any(d.get("macro") for _, d in present):
            rows.append([f"macro `{macro_key}`", *[fmt((d.get("macro") or {}).get(macro_key)) for _, d in present]])
        from critic.evaluation.trust_report import compare_rows

        rows += compare_rows(present)
        lines += [f"## {section}", "", *_table(["metric", *[n for n, _ in present]], rows), ""]
    return "\n".join(lines) if lines else "no pairwise or pointwise section in these reports"


__all__ = ["compare_table", "fmt", "fmt_ci", "render_markdown", "short_table"]

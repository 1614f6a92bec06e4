"""The calibration and bias sections in words and pictures: ``report.md`` lines, ``--compare`` rows, and
``reliability_<task>.png`` (accuracy per confidence bin against the diagonal, bin counts under it).

Everything reads the ``report.json`` layout (:mod:`critic.evaluation.trust`), so old report folders
without these sections compare as ``—``.

>>> calibration_line({"source": "verdict_probs", "n": 4, "ece": 0.05, "ece_ci": None, "brier": 0.1, "auroc": None})
'- confidence from `verdict_probs` (4 units): ECE 0.050 —, Brier 0.100 —, AUROC —'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def fmt(v: Any) -> str:  # the report's formats, repeated: report.py imports this module
    return "—" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def fmt_ci(ci: Sequence[float] | None) -> str:
    return "—" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"

#: ``--compare`` rows: (label, path into the task's section)
COMPARE_ROWS = (
    ("calibration `ece`", ("calibration", "ece")),
    ("calibration `brier`", ("calibration", "brier")),
    ("calibration `auroc`", ("calibration", "auroc")),
    ("length `longer_preferred_rate`", ("bias", "length", "longer_preferred_rate")),
    ("length `slope`", ("bias", "length", "slope")),
    ("self-preference `difference`", ("bias", "self_preference", "difference")),
)


def _get(d: dict[str, Any], path: Sequence[str]) -> Any:
    for k in path:
        if not isinstance(d, dict):
            return None
        d = d.get(k)  # type: ignore[assignment]
    return d


def calibration_line(cal: dict[str, Any], source: str | None = None) -> str:
    name = source or cal.get("source")
    return (f"- confidence from `{name}` ({cal.get('n', 0)} units): ECE {fmt(cal.get('ece'))} {fmt_ci(cal.get('ece_ci'))}, "
            f"Brier {fmt(cal.get('brier'))} {fmt_ci(cal.get('brier_ci'))}, AUROC {fmt(cal.get('auroc'))}")


def trust_markdown(data: dict[str, Any]) -> list[str]:
    """``report.md`` lines for one task's ``calibration`` and ``bias`` (nothing when absent)."""
    lines: list[str] = []
    cal = data.get("calibration")
    if cal is not None:
        lines += ["", "### Calibration", ""]
        if not cal.get("sources"):
            lines.append("No confidence to calibrate: the judgments carry no verdict probabilities or samples, "
                         "and no item was judged in both orders.")
        for name, c in (cal.get("sources") or {}).items():
            lines.append(calibration_line(c, name))
            counts = ", ".join(f"{b['lo']:.1f}–{b['hi']:.1f}: {b['n']}" for b in c.get("bins", []) if b["n"])
            lines.append(f"  - bin counts: {counts}")
    bias = data.get("bias")
    if bias is not None:
        lines += ["", "### Bias", ""]
        ln = bias.get("length") or {}
        if "reason" in ln:
            lines.append(f"- length: not measured ({ln['reason']})")
        elif "longer_preferred_rate" in ln:
            lines.append(f"- length: the longer response is chosen in {fmt(ln.get('longer_preferred_rate'))} "
                         f"{fmt_ci(ln.get('longer_preferred_rate_ci'))} of decisive judgments where gold prefers the "
                         f"shorter or ties; slope {fmt(ln.get('slope'))} {fmt_ci(ln.get('slope_ci'))} log-odds of "
                         "preferring A per sd of the length difference, gold held fixed (0 = no length bias)")
        else:
            lines.append(f"- length: slope {fmt(ln.get('slope'))} {fmt_ci(ln.get('slope_ci'))} score points per sd "
                         "of response length at a fixed gold score (0 = no length bias)")
        sp = bias.get("self_preference") or {}
        if "reason" in sp:
            lines.append(f"- self-preference: not measured ({sp['reason']})")
        elif "judge_win_rate" in sp:
            lines.append(f"- self-preference (`{sp['family']}`): judge win rate for the family's answers "
                         f"{fmt(sp.get('judge_win_rate'))}, gold's {fmt(sp.get('gold_win_rate'))}; difference "
                         f"{fmt(sp.get('difference'))} {fmt_ci(sp.get('difference_ci'))} ({sp['n_judgments']} judgments)")
        else:
            lines.append(f"- self-preference (`{sp['family']}`): judge − gold on the family's responses minus on "
                         f"others' {fmt(sp.get('difference'))} {fmt_ci(sp.get('difference_ci'))}")
    return lines


def compare_rows(present: Sequence[tuple[str, dict[str, Any]]]) -> list[list[str]]:
    """Rows of the ``--compare`` table for the trust figures any of the reports has."""
    rows = []
    for label, path in COMPARE_ROWS:
        vals = [_get(d, path) for _, d in present]
        if all(v is None for v in vals):
            continue
        cis = [_get(d, (*path[:-1], path[-1] + "_ci")) for _, d in present]
        rows.append([label, *[fmt(v) + (f" {fmt_ci(ci)}" if ci else "") for v, ci in zip(vals, cis)]])
    return rows


def reliability_figure(cal: dict[str, Any], title: str) -> Figure:
    """Accuracy against mean confidence per bin (bars at the bin, the diagonal drawn), counts below."""
    fig = Figure(figsize=(5.5, 5.5))
    ax, axn = fig.subplots(2, 1, gridspec_kw={"height_ratios": [3, 1]}, sharex=True)
    bins = cal.get("bins") or []
    width = (bins[0]["hi"] - bins[0]["lo"]) if bins else 0.1
    filled = [b for b in bins if b["n"]]
    ax.bar([b["lo"] for b in filled], [b["accuracy"] for b in filled], width=width, align="edge",
           color="#4C72B0", edgecolor="white", label="accuracy in bin")
    ax.plot([b["confidence"] for b in filled], [b["accuracy"] for b in filled], "o", color="#222222",
            label="(mean confidence, accuracy)")
    ax.plot([0, 1], [0, 1], "--", color="#C44E52", label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title}\nECE {fmt(cal.get('ece'))}, Brier {fmt(cal.get('brier'))}, AUROC {fmt(cal.get('auroc'))}")
    ax.legend(loc="upper left", fontsize=8)
    axn.bar([b["lo"] for b in bins], [b["n"] for b in bins], width=width, align="edge", color="#55585E")
    for b in filled:
        axn.text(b["lo"] + width / 2, b["n"], str(b["n"]), ha="center", va="bottom", fontsize=7)
    axn.set_xlabel("confidence")
    axn.set_ylabel("count")
    return fig


def trust_plots(data: dict[str, Any], out: Path) -> list[Path]:
    """``reliability_<task>.png`` for each task whose calibration has a source; returns the files written."""
    files = []
    for task in ("pairwise", "pointwise"):
        cal = (data.get(task) or {}).get("calibration") or {}
        if cal.get("source") and cal.get("n"):
            fig = reliability_figure(cal, f"Reliability, {task} (confidence: {cal['source']})")
            FigureCanvasAgg(fig)
            fig.tight_layout()
            path = out / f"reliability_{task}.png"
            fig.savefig(path, dpi=110)
            files.append(path)
    return files


__all__ = ["COMPARE_ROWS", "calibration_line", "compare_rows", "reliability_figure", "trust_markdown", "trust_plots"]

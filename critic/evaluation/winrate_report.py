"""The win-rate leaderboard as files: ``leaderboard.md``, ``leaderboard.csv``, ``leaderboard.json`` and
``leaderboard.png`` (raw and length-controlled win rate per model with intervals, 50 % drawn)."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from critic.evaluation.winrate import ModelWinRate

CSV_COLUMNS = ("rank", "model", "n", "lc_win_rate", "lc_win_rate_lo", "lc_win_rate_hi", "win_rate", "win_rate_lo",
               "win_rate_hi", "mean_length_diff")


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}"


def _ci(ci: Sequence[float] | None) -> str:
    return "—" if ci is None else f"[{ci[0]:.1f}, {ci[1]:.1f}]"


def leaderboard_markdown(board: Sequence[ModelWinRate], meta: dict[str, Any]) -> str:
    """The leaderboard table and what was fitted, in words."""
    diff = ("with an instruction-difficulty term from " + f"`{meta['difficulty']}`" if meta.get("difficulty") else
            "without an instruction-difficulty term (no difficulty file given; AlpacaEval's own comes from the Hub)")
    lines = [f"# Win rates against `{meta['baseline']}`", "",
             f"Judge: {', '.join(f'`{j}`' for j in meta.get('judges', [])) or '—'}. Length-controlled win rate: "
             "AlpacaEval 2's GLM (model term, tanh(length difference / sd) term) " + diff + ", the length term set to "
             f"0. Intervals: {int(meta['confidence'] * 100)} % percentile bootstrap over items, "
             f"{meta['n_resamples']} refits.", "",
             "| rank | model | items | LC win rate | interval | win rate | interval | mean length diff (chars) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for k, m in enumerate(board, 1):
        lines.append(f"| {k} | `{m.model}` | {m.n} | {_pct(m.lc_win_rate)} | {_ci(m.lc_win_rate_ci)} | "
                     f"{_pct(m.win_rate)} | {_ci(m.win_rate_ci)} | {m.mean_length_diff:.0f} |")
    skipped = {k: v for k, v in meta.get("skipped", {}).items() if v}
    if skipped:
        lines += ["", "Items left out: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in skipped.items()) + "."]
    return "\n".join(lines) + "\n"


def leaderboard_figure(board: Sequence[ModelWinRate], baseline: str) -> Figure:
    fig = Figure(figsize=(7.0, 1.2 + 0.5 * max(1, len(board))))
    ax = fig.subplots()
    ys = list(range(len(board)))[::-1]
    for off, key, colour, label in ((0.15, "lc_win_rate", "#4C72B0", "length-controlled"),
                                    (-0.15, "win_rate", "#999999", "raw")):
        vals = [getattr(m, key) or 0.0 for m in board]
        cis = [getattr(m, key + "_ci") for m in board]
        err = [[v - c[0] if c else 0 for v, c in zip(vals, cis)], [c[1] - v if c else 0 for v, c in zip(vals, cis)]]
        ax.barh([y + off for y in ys], vals, height=0.3, color=colour, xerr=err, capsize=3, label=label)
    ax.axvline(50, ls="--", color="#C44E52", label="50 % = as good as the baseline")
    ax.set_yticks(ys, [m.model for m in board])
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"win rate against {baseline} (%, 95 % CI)")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def write_leaderboard(board: Sequence[ModelWinRate], meta: dict[str, Any], out: Path, *, plot: bool = True) -> list[Path]:
    """Write the four files into ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "leaderboard.md").write_text(leaderboard_markdown(board, meta), encoding="utf-8")
    with open(out / "leaderboard.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for k, m in enumerate(board, 1):
            lc, raw = m.lc_win_rate_ci or (None, None), m.win_rate_ci or (None, None)
            w.writerow([k, m.model, m.n, m.lc_win_rate, lc[0], lc[1], m.win_rate, raw[0], raw[1], m.mean_length_diff])
    (out / "leaderboard.json").write_text(json.dumps({**meta, "models": [m.to_dict() for m in board]}, indent=2) + "\n",
                                          encoding="utf-8")
    files = [out / "leaderboard.md", out / "leaderboard.csv", out / "leaderboard.json"]
    if plot and board:
        fig = leaderboard_figure(board, meta["baseline"])
        FigureCanvasAgg(fig)
        fig.tight_layout()
        fig.savefig(out / "leaderboard.png", dpi=110)
        files.append(out / "leaderboard.png")
    return files


__all__ = ["CSV_COLUMNS", "leaderboard_figure", "leaderboard_markdown", "write_leaderboard"]

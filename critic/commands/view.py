"""``critic view``: the judgment browser (one HTML page, works offline) for any judgments file."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from critic.commands.common_flags import add_file_output, add_json, add_limit, limited, print_json, say


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "view", help="browse judgments in one offline HTML page (images, responses, verdicts, rationales)",
        description="Write one self-contained HTML page (no network; thumbnails next to it in PAGE_files/) showing "
        "every judged item: image, question, responses side by side, the verdict in each order, the combined "
        "verdict, the rationale, parse errors with the raw text; filters (wrong vs gold, parse failures, orders "
        "disagree, ties, group, response model, template), sorting, search, j / k navigation, and a URL hash that "
        "keeps the filter. With --gold the headline metrics and plots are at the top; with --compare two judges "
        "are side by side, disagreements first. `critic eval --out DIR` writes the same page as DIR/report.html.",
    )
    p.add_argument("judgments", type=Path, metavar="JUDGMENTS.jsonl", help="judgments written by `critic judge`")
    add_file_output(p, "the HTML page to write (e.g. view.html)", metavar="PAGE.html")
    p.add_argument("--gold", type=Path, help="gold labels (id + label or score); an items file qualifies")
    p.add_argument("--items", type=Path,
                   help="items (images, question, responses) to show; default: the --gold file when given")
    p.add_argument("--compare", type=Path, metavar="OTHER.jsonl", help="a second judge's judgments, side by side")
    p.add_argument("--title", help="page title")
    p.add_argument("--judge-scale", type=float, nargs=2, metavar=("LO", "HI"), help="the judge's score scale")
    p.add_argument("--gold-scale", type=float, nargs=2, metavar=("LO", "HI"), help="the gold score scale")
    p.add_argument("--n-resamples", type=int, default=1000, help="bootstrap resamples of the headline metrics (with --gold)")
    p.add_argument("--no-plots", action="store_true", help="no plots at the top (with --gold)")
    p.add_argument("--copy-images", action="store_true",
                   help="copy full-size images next to the page too (default: thumbnails copied, originals linked)")
    add_limit(p, "judgment rows (of each judgments file)")
    add_json(p)
    p.set_defaults(func=run_view)


def run_view(args: argparse.Namespace) -> int:
    from critic.commands.errors import CommandError
    from critic.evaluation.browser import write_browser
    from critic.jsonl import RecordFileError

    for path in (args.judgments, args.gold, args.items, args.compare):
        if path is not None and not path.is_file():
            raise CommandError(f"{path}: no such file")
    if args.output.suffix.lower() not in (".html", ".htm"):
        raise CommandError(f"--output is the page to write and ends in .html, got {args.output}")
    for scale in (args.judge_scale, args.gold_scale):
        if scale is not None and not scale[0] < scale[1]:
            raise CommandError(f"a scale needs LO < HI, got {scale[0]} {scale[1]}")
    reports: list[tuple[str, dict]] = []
    plots: list[tuple[Path, str]] = []
    try:
        judgments, compare = _limited(args, args.judgments), _limited(args, args.compare)
        if args.gold is not None:
            reports, plots = _reports(args, judgments, compare)
        info = write_browser(args.output, judgments, gold=args.gold, items=args.items, compare=compare,
                             title=args.title, judge_scale=args.judge_scale, gold_scale=args.gold_scale,
                             reports=reports, plots=plots, copy_images=args.copy_images)
    except RecordFileError as exc:
        raise CommandError(str(exc)) from exc
    say(args, f"wrote {info.describe()}")
    if args.json:
        print_json({"output": str(args.output), "page": info.describe(), "reports": dict(reports)})
    return 0


def _limited(args: argparse.Namespace, path: Path | None):
    """The path itself, or its first ``--limit`` judgments."""
    if path is None or args.limit is None:
        return path
    from critic.evaluation.evaluate import read_judgments

    return limited(args, read_judgments(path)[0])


def _reports(args: argparse.Namespace, judgments, compare) -> tuple[list[tuple[str, dict]], list[tuple[Path, str]]]:
    """Each judge's report against the gold, and its plots in PAGE_files/plots-K/."""
    from critic.evaluation.evaluate import evaluate

    reports: list[tuple[str, dict]] = []
    plots: list[tuple[Path, str]] = []
    runs = [(args.judgments, judgments)] + ([(args.compare, compare)] if args.compare else [])
    files = args.output.with_name(args.output.stem + "_files")
    for k, (path, rows) in enumerate(runs, start=1):
        report = evaluate(args.gold, rows, n_resamples=args.n_resamples, judge_scale=_pair(args.judge_scale),
                          gold_scale=_pair(args.gold_scale))
        name = ", ".join(report.judges) or path.name
        reports.append((name if name not in [n for n, _ in reports] else f"{name} ({path.name})", report.to_dict()))
        if not args.no_plots:
            from critic.evaluation.plots import make_plots

            folder = files / f"plots-{k}"
            shutil.rmtree(folder, ignore_errors=True)  # no stale plot of an earlier run
            folder.mkdir(parents=True)
            label = f"{reports[-1][0]}: " if len(runs) > 1 else ""
            plots += [(p, label + p.stem.replace("_", " ")) for p in make_plots(report, folder)]
    return reports, plots


def _pair(values: list[float] | None) -> tuple[float, float] | None:
    return None if values is None else (values[0], values[1])

"""``critic eval`` (judgments against gold labels) and ``critic eval-bench`` (a benchmark end to end)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from critic.commands.common_flags import add_json, add_limit, limited, print_json, print_run, say
from critic.commands.judge import load_critic
from critic.commands.judge_options import add_judge_options
from critic.commands.map_options import add_map_options
from critic.commands.rubric_option import add_rubric_option, apply_rubric

MAX_PRINTED_PROBLEMS = 10


def _scale(values: list[float] | None) -> tuple[float, float] | None:
    if values is None:
        return None
    lo, hi = values
    if not lo < hi:
        from critic.commands.errors import CommandError

        raise CommandError(f"a scale needs LO < HI, got {lo} {hi}")
    return lo, hi


def _add_eval_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n-resamples", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--confidence", type=float, default=0.95, help="interval coverage (default 0.95)")
    p.add_argument("--bootstrap-seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    p.add_argument("--no-plots", action="store_true", help="write report.json and report.md only")
    p.add_argument("--report-to", nargs="+", default=[], metavar="TRACKER",
                   help="also log every metric to these trackers (tensorboard, wandb, mlflow, comet_ml, aim, "
                        "clearml, dvclive, swanlab, trackio), as `critic train` does; needs accelerate")
    p.add_argument("--run-name", default=None, help="tracker run name (default: the report folder's name)")
    p.add_argument("--logging-dir", type=Path, default=None,
                   help="where file-based trackers write (default: OUT/runs)")
    p.add_argument("--step", type=int, default=0,
                   help="the step the metrics are logged at, e.g. the checkpoint's training step (default 0)")
    add_json(p)


def _benchmark_epilog() -> str:
    """The shipped benchmark names (file names only: `critic --help` must not parse YAML)."""
    try:
        from critic.assets import asset_dir

        names = sorted(p.stem for p in asset_dir("eval_configs").glob("*.yaml"))
    except FileNotFoundError as exc:
        return f"(no shipped benchmarks found: {exc})"
    return ("shipped benchmarks (eval/*.yaml; each file says where to get the data): " + ", ".join(names)
            + ". See docs/evaluation.md.")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval", help="measure judgments against gold labels (report.json, report.md, plots)",
        description="Compare a judgments file (from `critic judge`) with gold labels: accuracies, consistency, "
        "position bias and ties (pairwise); Pearson, Spearman, Kendall, MAE (pointwise); each with a bootstrap "
        "interval, per group and macro-averaged. With --compare, put earlier reports side by side.",
    )
    p.add_argument("--gold", type=Path, help="JSONL with id and label (A/B/tie) or score; an items file qualifies")
    p.add_argument("--judgments", type=Path, help="judgments JSONL written by `critic judge`")
    p.add_argument("--out", type=Path, help="report folder (eval) or where to write compare.md (--compare)")
    p.add_argument("--compare", nargs="+", type=Path, metavar="DIR", help="report folders to put side by side")
    p.add_argument("--judge-scale", type=float, nargs=2, metavar=("LO", "HI"),
                   help="the judge's score scale; with --gold-scale, judge scores are mapped onto the gold scale for MAE")
    p.add_argument("--gold-scale", type=float, nargs=2, metavar=("LO", "HI"), help="the gold score scale")
    p.add_argument("--strict", action="store_true", help="stop at the first malformed line")
    add_map_options(p)
    p.add_argument("--judgments-map", dest="judgments_map", action="append", default=None, metavar="FIELD=COLUMN",
                   help="map a judgment field (id, winner, score, swapped, ...) to a column of --judgments "
                        "(repeatable); only id and the verdict are needed, from any judge")
    p.add_argument("--judge-family", default=None, metavar="NAME",
                   help="the judge's model family: report its win rate for that family's answers vs gold's "
                        "(self-preference; a model is of the family when NAME is in its name)")
    add_limit(p, "judgment rows")
    _add_eval_options(p)
    p.set_defaults(func=run_eval)

    b = sub.add_parser(
        "eval-bench", help="run a judge benchmark end to end: load, judge, evaluate",
        description="Turn a published judge benchmark (or your own file, via a YAML definition) into items with "
        "gold labels, judge them, and write the same report as `critic eval`. Judging resumes: rerunning with the "
        "same --out skips judgments already made.",
        epilog=_benchmark_epilog(),
    )
    b.add_argument("benchmark", metavar="NAME", help="a shipped benchmark name (listed below) or a .yaml definition")
    b.add_argument("--data", type=Path, required=True, help="the benchmark's data file, or the folder holding it")
    b.add_argument("--image-root", type=Path, default=None, help="folder image paths are relative to (default: the data file's)")
    b.add_argument("--out", type=Path, required=True, help="folder for items.jsonl, judgments.jsonl and the report")
    add_limit(b, "items (judged and evaluated)")
    b.add_argument("--swap", choices=["none", "random", "both"], default=None,
                   help="pairwise position policy (default: the benchmark's, usually both)")
    _add_eval_options(b)
    add_rubric_option(b)
    add_judge_options(b, prefix="judge-")
    b.set_defaults(func=run_eval_bench)


def _print_problems(problems: list[str], what: str) -> None:
    if not problems:
        return
    print(f"{len(problems)} {what}:", file=sys.stderr)
    for line in problems[:MAX_PRINTED_PROBLEMS]:
        print(f"  {line}", file=sys.stderr)
    if len(problems) > MAX_PRINTED_PROBLEMS:
        print(f"  … and {len(problems) - MAX_PRINTED_PROBLEMS} more", file=sys.stderr)


def _check_trackers(args: argparse.Namespace) -> None:
    """Fail before any work when a --report-to tracker cannot be used."""
    from critic.commands.errors import CommandError
    from critic.evaluation.tracking import TrackingError, check_trackers

    if args.report_to:
        try:
            check_trackers(args.report_to)
        except TrackingError as exc:
            raise CommandError(str(exc)) from exc


def _write_report(report, out: Path, plots: bool, args: argparse.Namespace) -> None:
    from critic.evaluation.browser import write_report_page
    from critic.evaluation.report import short_table

    written = report.write(out, plots=plots)
    page = write_report_page(report, out, written)  # the judgment browser, report.html
    inp = report.inputs
    _print_problems(inp["gold_problems"] + inp["judgment_problems"], "malformed lines skipped")
    if inp["n_error_judgments"]:
        print(f"{inp['n_error_judgments']} judgments with `error` (no output) were not counted", file=sys.stderr)
    if inp["n_unmatched_judgments"]:
        print(f"{inp['n_unmatched_judgments']} judgments had no matching gold (first: {inp['unmatched_judgments'][0]})",
              file=sys.stderr)
    say(args, short_table(report))
    say(args, f"report: {out / 'report.md'}")
    if page is not None:
        say(args, f"browser: {page.describe()}")
    if args.report_to:
        from critic.evaluation.tracking import log_report

        logged = log_report(args.report_to, report.to_dict(), project="critic-eval", run_name=args.run_name or out.name,
                            logging_dir=args.logging_dir or out / "runs", step=args.step,
                            config={"judges": ", ".join(report.judges), "gold": str(report.inputs.get("gold", ""))})
        say(args, f"logged {len(logged)} metrics at step {args.step} to {', '.join(args.report_to)}")
    if args.json:
        print_json({"out": str(out), "report": report.to_dict()})


def run_compare(args: argparse.Namespace) -> int:
    from critic.commands.errors import CommandError
    from critic.evaluation.report import compare_table

    named = []
    for d in args.compare:
        path = d / "report.json" if d.is_dir() else d
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise CommandError(f"{path}: cannot read a report: {exc}") from exc
        named.append((", ".join(data.get("judges") or []) or str(d), data))
    if len({n for n, _ in named}) < len(named):
        named = [(str(d), data) for d, (_, data) in zip(args.compare, named)]
    table = compare_table(named)
    say(args, table)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "compare.md").write_text(table + "\n", encoding="utf-8")
        (args.out / "compare.json").write_text(json.dumps({n: d for n, d in named}, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print_json({"compare": {n: d for n, d in named}})
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from critic.commands.errors import CommandError
    from critic.evaluation.evaluate import evaluate
    from critic.jsonl import RecordFileError

    if args.compare:
        if args.gold or args.judgments:
            raise CommandError("--compare takes report folders; do not combine it with --gold / --judgments")
        return run_compare(args)
    missing = [f"--{k}" for k in ("gold", "judgments", "out") if getattr(args, k) is None]
    if missing:
        raise CommandError(f"missing {', '.join(missing)} (or use --compare DIR ...)")
    if args.n_resamples < 1 or not 0 < args.confidence < 1:
        raise CommandError("--n-resamples must be ≥ 1 and --confidence in (0, 1)")
    _check_trackers(args)
    gold, judgments, problems = _mapped_inputs(args)
    try:
        report = evaluate(gold, judgments, n_resamples=args.n_resamples, confidence=args.confidence,
                          seed=args.bootstrap_seed, judge_scale=_scale(args.judge_scale),
                          gold_scale=_scale(args.gold_scale), strict=args.strict, judge_family=args.judge_family)
    except RecordFileError as exc:
        raise CommandError(str(exc)) from exc
    _note_mapped(report, args, problems)
    _write_report(report, args.out, not args.no_plots, args)
    if report.pairwise is None and report.pointwise is None:
        inp = report.inputs
        print(f"critic eval: error: no judgment in {args.judgments} matched a gold label in {args.gold} "
              f"({sum(inp['n_gold'].values())} gold, {inp['n_unmatched_judgments']} unmatched judgments): "
              "nothing was measured", file=sys.stderr)
        return 1
    return 0


def _mapped_inputs(args: argparse.Namespace) -> tuple[object, object, dict[str, list]]:
    """Gold and judgments as ``evaluate`` takes them: the paths, or mapped rows where a map or a non-JSONL file asks."""
    from critic.commands.errors import CommandError
    from critic.commands.map_options import column_map
    from critic.evaluation.judgment_rows import GOLD_FIELDS, JUDGMENT_FIELDS, mapped_rows

    gold_cols, label_map = column_map(args, items=False)
    j_cols, _ = column_map(args, "judgments_map", items=False)
    gold: object = args.gold
    judgments: object = args.judgments
    problems: dict[str, list] = {"gold": [], "judgments": []}
    try:
        if gold_cols or label_map or args.gold.suffix.lower() in (".json", ".csv"):
            gold, problems["gold"] = mapped_rows(args.gold, gold_cols, label_map, fields=GOLD_FIELDS,
                                                 label_field="label")
        if j_cols or label_map or args.limit or args.judgments.suffix.lower() in (".json", ".csv"):
            judgments, problems["judgments"] = mapped_rows(args.judgments, j_cols, label_map, fields=JUDGMENT_FIELDS,
                                                           label_field="winner")
            judgments = limited(args, judgments)
    except (OSError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    return gold, judgments, problems


def _note_mapped(report, args: argparse.Namespace, problems: dict[str, list]) -> None:
    inp = report.inputs
    inp["gold"], inp["judgments"] = str(args.gold), str(args.judgments)
    for key, name in (("gold", "gold_problems"), ("judgments", "judgment_problems")):
        if problems[key]:
            inp[name] = [str(e) for e in problems[key]][:20] + inp[name]
            inp[f"n_{name}"] += len(problems[key])


def _judge(args: argparse.Namespace, items: list, out: Path, swap: str) -> tuple[float, float] | None:
    """Judge items into ``out/judgments.jsonl``, resuming; failures go to ``judgments.jsonl.failed.jsonl``.

    Returns the pointwise template's score scale (to map judge scores onto the gold scale)."""
    from critic.commands.errors import CommandError
    from critic.judging.backends.base import BackendFatalError
    from critic.judging.run import judge_to_file

    critic = load_critic(args, prefix="judge-")
    t0 = time.perf_counter()
    try:
        judged = judge_to_file(critic, items, out / "judgments.jsonl", swap=swap)
    except (BackendFatalError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    judged.summary.wall_s = time.perf_counter() - t0
    print_run(args, judged)
    if any(it.task == "pointwise" for it in items):
        return critic.template_for("pointwise").scale
    return None


def run_eval_bench(args: argparse.Namespace) -> int:
    from critic.commands.errors import CommandError
    from critic.evaluation.benchmarks import BenchmarkError, load_benchmark, load_spec
    from critic.evaluation.evaluate import evaluate
    from critic.jsonl import write_records

    _check_trackers(args)
    try:
        spec = load_spec(args.benchmark)
        loaded = load_benchmark(spec, args.data, image_root=args.image_root, limit=args.limit)
    except (BenchmarkError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "load_problems.txt").write_text("".join(p + "\n" for p in loaded.problems), encoding="utf-8")
    _print_problems(loaded.problems, f"rows skipped while loading {spec.name} (all in {args.out / 'load_problems.txt'})")
    if not loaded.items:
        raise CommandError(f"no usable items in {args.data}")
    loaded.items = apply_rubric(args, loaded.items)
    items_path = args.out / "items.jsonl"
    write_records(items_path, loaded.items)
    say(args, f"{spec.name}: {len(loaded.items)} items from {loaded.n_rows} rows ({loaded.n_skipped} skipped) → {items_path}")
    if args.judge_template is None:
        args.judge_template = spec.template
    judge_scale = _judge(args, loaded.items, args.out, args.swap or spec.swap)
    report = evaluate(items_path, args.out / "judgments.jsonl", n_resamples=args.n_resamples,
                      confidence=args.confidence, seed=args.bootstrap_seed, judge_scale=judge_scale,
                      gold_scale=spec.gold_scale)
    report.inputs["benchmark"] = {"name": spec.name, "definition": spec.path, "data": str(args.data),
                                  "rows": loaded.n_rows, "skipped_rows": loaded.n_skipped,
                                  "load_problems": loaded.problems[:20]}
    _write_report(report, args.out, not args.no_plots, args)
    return 0

"""``critic judge``: judge a JSONL file of items with a local or served critic, resumably."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from critic.commands.cascade_options import add_cascade_options
from critic.commands.common_flags import add_json, add_limit, judge_summary, limited, print_json, print_run
from critic.commands.judge_options import add_judge_options, judge_spec_from_args
from critic.commands.map_options import add_map_options
from critic.commands.rubric_option import add_rubric_option, apply_rubric


def load_critic(args: argparse.Namespace, prefix: str = ""):
    """The :class:`~critic.judging.critic.Critic` the judge flags describe (:mod:`critic.commands.judge_options`)."""
    from critic.commands.errors import CommandError
    from critic.judging.factory import make_critic

    spec = judge_spec_from_args(args, prefix)
    try:
        return make_critic(spec, progress=not args.no_progress)
    except (OSError, ValueError, ImportError) as exc:
        raise CommandError(f"cannot load the judge: {exc}") from exc


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "judge", help="judge items (pointwise scores, pairwise preferences) with a critic",
        description="Judge a JSONL of items. Results stream to --output as they finish; rerunning with the "
        "same --output skips what is already judged. Requests that failed go to OUTPUT.failed.jsonl and are "
        "retried by the next run.",
    )
    p.add_argument("--input", required=True, type=Path,
                   help="items (pointwise and/or pairwise): JSONL, JSON, CSV, parquet or a `datasets` folder")
    p.add_argument("--output", required=True, type=Path, help="judgments JSONL (appended to; resumable)")
    p.add_argument("--swap", choices=["none", "random", "both"], default="none",
                   help="pairwise position policy (default none; 'both' judges each pair in both orders)")
    p.add_argument("--strict", action="store_true", help="stop at the first malformed input line")
    p.add_argument("--allow-failures", action="store_true",
                   help="exit 0 even when some inputs were skipped or some judgments failed (default: exit 1)")
    add_limit(p, "input rows")
    add_json(p)
    add_map_options(p)
    add_rubric_option(p)
    add_judge_options(p)
    add_cascade_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from critic.commands.errors import CommandError
    from critic.commands.map_options import is_datasets_folder, read_input
    from critic.judging.run_files import OutputBusyError, output_lock
    from critic.judging.summary import JudgeSummary
    from critic.records import CandidateSet

    t0 = time.perf_counter()
    if args.output.resolve() == args.input.resolve():
        raise CommandError(f"--output {args.output} is the --input file; judgments need a file of their own")
    if args.output.is_dir():
        raise CommandError(f"--output {args.output} is a folder; give a file for the judgments (it is appended to)")
    if args.input.is_dir() and not is_datasets_folder(args.input):
        raise CommandError(f"--input {args.input} is a folder; give the items file (or a `datasets` folder)")
    got = read_input(args, args.input, strict=args.strict)  # JSONL, JSON, CSV, parquet, datasets; --map
    rows = limited(args, got.items)
    items, lines = apply_rubric(args, [it for it, _ in rows]), [line for _, line in rows]
    errors = got.errors
    if not items and not errors:
        raise CommandError(f"{args.input}: no items (the file is empty)")
    summary = JudgeSummary()
    for e in errors:
        summary.skip(str(e))
    judgeable = []
    seen: dict[str, int] = {}
    for it, line in zip(items, lines):
        where = f"{args.input}:{line}: {it.id}"
        if isinstance(it, CandidateSet):
            summary.skip(f"{where}: candidate sets are ranked by `critic label-pairs`, not judged here")
        elif it.id in seen:
            summary.skip(f"{where}: duplicate id (first at line {seen[it.id]}): skipped, since judgments are "
                         "matched and resumed by id")
        else:
            seen[it.id] = line
            judgeable.append(it)
    try:
        with output_lock(args.output):
            return _judge(args, judgeable, summary, t0)
    except OutputBusyError as exc:
        raise CommandError(str(exc)) from exc


def _judge(args: argparse.Namespace, judgeable: list, summary, t0: float) -> int:
    from critic.commands.errors import CommandError
    from critic.judging.backends.base import BackendFatalError
    from critic.judging.run import judge_to_file
    from critic.judging.templates import load_template

    critic = load_critic(args)
    if args.template:
        tasks = {it.task for it in judgeable}
        chosen = load_template(args.template, critic.template_dirs)
        if judgeable and chosen.task not in tasks:
            raise CommandError(f"--template {args.template} is a {chosen.task} template, but {args.input} has only "
                               f"{' and '.join(sorted(tasks))} items")
    if args.cascade:  # a cheap judge, then a strong one where it is unsure (critic.judging.cascade)
        from critic.commands.cascade_options import run_cascade_command

        return run_cascade_command(args, critic, judgeable, summary, t0)
    try:
        judged = judge_to_file(critic, judgeable, args.output, swap=args.swap, summary=summary)
    except (BackendFatalError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    summary.wall_s = time.perf_counter() - t0
    print_run(args, judged)
    if args.json:
        print_json({"output": str(args.output), **judge_summary(summary), "complete": judged.complete})
    if not judged.complete and not args.allow_failures:
        print("critic judge: not every input was judged (see above); exit 1 (--allow-failures to accept "
              "partial output)", file=sys.stderr)
        return 1
    return 0

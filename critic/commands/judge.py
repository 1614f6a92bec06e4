"""``critic judge``: judge a JSONL file of items with a local or served critic, resumably."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from critic.commands.judge_options import add_judge_options, judge_spec_from_args


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
    p.add_argument("--input", required=True, type=Path, help="items JSONL (pointwise and/or pairwise)")
    p.add_argument("--output", required=True, type=Path, help="judgments JSONL (appended to; resumable)")
    p.add_argument("--swap", choices=["none", "random", "both"], default="none",
                   help="pairwise position policy (default none; 'both' judges each pair in both orders)")
    p.add_argument("--strict", action="store_true", help="stop at the first malformed input line")
    add_judge_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from critic.commands.errors import CommandError
    from critic.jsonl import RecordFileError, read_items
    from critic.judging.backends.base import BackendFatalError
    from critic.judging.run import judge_to_file
    from critic.judging.summary import JudgeSummary
    from critic.judging.templates import load_template
    from critic.records import CandidateSet

    t0 = time.perf_counter()
    try:
        items, errors = read_items(args.input, strict=args.strict)
    except RecordFileError as exc:
        raise CommandError(str(exc)) from exc
    summary = JudgeSummary()
    for e in errors:
        summary.skip(str(e))
    judgeable = []
    for it in items:
        if isinstance(it, CandidateSet):
            summary.skip(f"{args.input}: {it.id}: candidate sets are ranked by `critic label-pairs`, not judged here")
        else:
            judgeable.append(it)
    seen: set[str] = set()
    for it in judgeable:
        if it.id in seen:
            summary.skip(f"{args.input}: {it.id}: duplicate id (later lines with it are judged too but resume by id)")
        seen.add(it.id)
    critic = load_critic(args)
    if args.template:
        tasks = {it.task for it in judgeable}
        chosen = load_template(args.template, critic.template_dirs)
        if judgeable and chosen.task not in tasks:
            raise CommandError(f"--template {args.template} is a {chosen.task} template, but {args.input} has only "
                               f"{' and '.join(sorted(tasks))} items")
    try:
        judged = judge_to_file(critic, judgeable, args.output, swap=args.swap, summary=summary)
    except (BackendFatalError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    summary.wall_s = time.perf_counter() - t0
    print(judged.render())
    return 0

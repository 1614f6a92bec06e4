"""``critic judge --cascade``: the flags that describe the strong judge, and the run (:mod:`critic.judging.cascade`).

The judge flags (``--backend``, ``--model``, ``--verdict-probs``, ...) describe the cheap judge. The strong
judge is the same spec with ``--strong-backend/--strong-model/--strong-base-url/--strong-template``
in place of the cheap judge's (a strong backend defaults to openai when a strong base URL is given,
else to the cheap judge's), one sample and no verdict probabilities: its confidence is not used.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from critic.commands.common_flags import judge_summary, print_json, print_run, say


def add_cascade_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("cascade (--cascade: a cheap judge first, a strong judge for the items it is unsure of)")
    g.add_argument("--cascade", action="store_true",
                   help="judge with the judge flags' (cheap) judge, then send each item whose cheap confidence "
                   "is below --cascade-threshold to the --strong-* judge; confidence is the top verdict "
                   "probability (--verdict-probs), else the samples' agreement (--n-samples), else the "
                   "agreement across orders (--swap both); a parse failure always escalates")
    g.add_argument("--cascade-threshold", type=float, default=0.75, metavar="T",
                   help="escalate items whose cheap confidence is below T (default 0.75)")
    g.add_argument("--strong-backend", choices=["hf", "openai", "remote"], default=None,
                   help="the strong judge's backend (default openai with --strong-base-url, else the cheap one's)")
    g.add_argument("--strong-model", default=None, help="the strong judge's checkpoint or model name")
    g.add_argument("--strong-base-url", action="append", default=None, metavar="URL",
                   help="the strong judge's OpenAI-compatible base URL")
    g.add_argument("--strong-template", default=None, help="the strong judge's template (default: its own)")


def strong_spec(args: argparse.Namespace, cheap: Any) -> Any:
    """The strong judge's :class:`~critic.judging.spec.JudgeSpec` (see the module doc)."""
    from pydantic import ValidationError

    from critic.commands.errors import CommandError

    backend = args.strong_backend or ("openai" if args.strong_base_url else cheap.backend)
    if not args.strong_model and backend != "remote":
        raise CommandError("--cascade needs the strong judge: give --strong-model (and --strong-base-url for a server)")
    changes = {"backend": backend, "model": args.strong_model or "remote", "template": args.strong_template,
               "base_url": args.strong_base_url or (cheap.base_url if backend != "hf" else None),
               "verdict_probs": False, "n_samples": 1}
    try:
        return cheap.judge_spec(**changes)
    except ValidationError as exc:
        raise CommandError(f"the strong judge: {exc.errors()[0]['msg']}") from None


def check_cascade(args: argparse.Namespace, cheap_spec: Any) -> None:
    """Refuse a cascade whose cheap judge gives no confidence signal at all."""
    from critic.commands.errors import CommandError

    if not 0 <= args.cascade_threshold <= 1:
        raise CommandError(f"--cascade-threshold is a confidence in [0, 1], got {args.cascade_threshold}")
    if not (cheap_spec.verdict_probs or cheap_spec.n_samples > 1 or args.swap == "both"):
        raise CommandError("--cascade needs a confidence from the cheap judge: --verdict-probs, --n-samples K "
                           "(with --temperature above 0) or --swap both")


def run_cascade_command(args: argparse.Namespace, cheap: Any, judgeable: list, summary: Any, t0: float) -> int:
    """The cascade of ``critic judge`` (after the cheap judge is loaded); the exit code."""
    import sys

    from critic.commands.errors import CommandError
    from critic.commands.judge_options import judge_spec_from_args
    from critic.judging.backends.base import BackendFatalError
    from critic.judging.cascade import run_cascade
    from critic.judging.factory import make_critic
    from critic.judging.summary import JudgeSummary

    cheap_spec = judge_spec_from_args(args)
    check_cascade(args, cheap_spec)
    try:
        strong = make_critic(strong_spec(args, cheap_spec), progress=not args.no_progress)
    except (OSError, ValueError, ImportError) as exc:
        raise CommandError(f"cannot load the strong judge: {exc}") from exc
    strong_summary = JudgeSummary()
    try:
        cheap_run, strong_run, report = run_cascade(cheap, strong, judgeable, args.output,
                                                    threshold=args.cascade_threshold, swap=args.swap,
                                                    summary=summary, strong_summary=strong_summary)
    except (BackendFatalError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    summary.wall_s = strong_summary.wall_s = time.perf_counter() - t0
    print_run(args, cheap_run)
    print_run(args, strong_run)
    say(args, report.render())
    say(args, f"final judgments: {args.output}")
    complete = cheap_run.complete and strong_run.complete
    if args.json:
        print_json({"output": str(args.output), **judge_summary(summary), "complete": complete,
                    "strong": judge_summary(strong_summary), "cascade": report.to_dict()})
    if not complete and not args.allow_failures:
        print("critic judge: not every input was judged (see above); exit 1 (--allow-failures to accept "
              "partial output)", file=sys.stderr)
        return 1
    return 0

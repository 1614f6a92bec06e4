"""``critic label-pairs``, ``critic best-of-n``, ``critic filter``: preference labels from a critic.

All three resume like ``critic judge``: rerunning the same command skips what its outputs already
hold, requests that failed go to ``OUTPUT.failed.jsonl`` and are retried, and every judgment goes
through the judge cache. Each prints a summary at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from critic.commands.common_flags import (
    add_file_output,
    add_json,
    add_limit,
    judge_summary,
    limited,
    print_json,
    print_run,
    say,
)
from critic.commands.judge import load_critic
from critic.commands.judge_options import add_judge_options
from critic.commands.map_options import add_map_options


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "label-pairs", help="rank K-candidate sets with a critic and write DPO pairs (TRL layout)",
        description="Rank each candidate set (pairwise tournament of all K(K-1) ordered pairs, or pointwise "
        "scores) and write the highest- vs lowest-reward answers as TRL preference rows. Resumable.",
    )
    _common(p, "candidate sets JSONL (id, images, question, candidates)", "DPO pairs JSONL (appended to; resumable)")
    p.add_argument("--mode", choices=["pairwise", "pointwise"], default="pairwise")
    p.add_argument("--aggregation", choices=["llava_ov", "win_count", "bradley_terry"], default="llava_ov",
                   help="pairwise rewards: LLaVA-OV-Chat relative-score sum (default), win count, Bradley-Terry")
    p.add_argument("--use-expected-score", action="store_true",
                   help="rank by expected outcomes: each judgment weighted by its verdict probabilities "
                   "(P(B) - P(A) per pairwise judgment with llava_ov, expected_score pointwise); turns on "
                   "--verdict-probs")
    p.set_defaults(func=run_label_pairs)

    p = sub.add_parser(
        "best-of-n", help="pick the best answer of each candidate set with a critic",
        description="Rank each candidate set and write its highest-reward answer as a pointwise item "
        "(meta.best_of_n holds the index and every reward). Resumable.",
    )
    _common(p, "candidate sets JSONL", "best answers JSONL (pointwise items; appended to; resumable)")
    p.add_argument("--mode", choices=["pairwise", "pointwise"], default="pointwise",
                   help="pointwise: K scores per set (default); pairwise: K(K-1) judgments per set")
    p.add_argument("--aggregation", choices=["llava_ov", "win_count", "bradley_terry"], default="llava_ov")
    p.add_argument("--use-expected-score", action="store_true",
                   help="rank by expected outcomes: each judgment weighted by its verdict probabilities "
                   "(P(B) - P(A) per pairwise judgment with llava_ov, expected_score pointwise); turns on "
                   "--verdict-probs")
    p.set_defaults(func=run_best_of_n)

    p = sub.add_parser(
        "filter", help="drop instruction-data samples the critic scores below a threshold",
        description="Score each pointwise item (question + response) and keep those scoring at least "
        "--min-score (on the template's scale). Dropped items go to OUTPUT.dropped.jsonl with their score; "
        "items whose verdict could not be parsed go to OUTPUT.unscored.jsonl — never treated as low scores.",
    )
    _common(p, "pointwise items JSONL (id, images, question, response)", "kept items JSONL (appended to; resumable)")
    p.add_argument("--min-score", type=float, required=True, help="keep items scoring >= this (template's scale)")
    p.set_defaults(func=run_filter)


def _common(p: argparse.ArgumentParser, input_help: str, out_help: str) -> None:
    p.add_argument("--input", required=True, type=Path, help=input_help)
    add_file_output(p, out_help)
    add_limit(p, "input rows")
    add_json(p)
    p.add_argument("--strict", action="store_true", help="stop at the first malformed input line")
    add_map_options(p)
    add_judge_options(p, prefix="judge-")


def _read_kind(args: argparse.Namespace, summary: Any, kind: type, wrong: str, dup: str) -> list:
    """The records of ``kind`` in ``args.input``, first of each id; every other line is a reported skip."""
    from critic.commands.map_options import read_input

    got = read_input(args, args.input, strict=args.strict)  # JSONL, JSON, CSV, parquet, datasets; --map
    items, errors = [it for it, _ in limited(args, got.items)], got.errors
    for e in errors:
        summary.skip(str(e))
    out, seen = [], set()
    for it in items:
        if not isinstance(it, kind):
            summary.skip(f"{args.input}: {it.id}: a {it.task} item{wrong}")
        elif it.id in seen:
            summary.skip(f"{args.input}: {it.id}: duplicate id ({dup})")
        else:
            seen.add(it.id)
            out.append(it)
    return out


def _read_sets(args: argparse.Namespace, summary: Any):
    from critic.records import CandidateSet

    return _read_kind(args, summary, CandidateSet, ", not a candidate set (use `critic judge`)",
                      "only the first set with it is ranked")


def _label(args: argparse.Namespace, make_row: Any, noun: str) -> int:
    from critic.commands.errors import CommandError
    from critic.dpo.pairs import label_sets
    from critic.judging.backends.base import BackendFatalError
    from critic.judging.summary import JudgeSummary

    t0 = time.perf_counter()
    summary = JudgeSummary()
    sets = _read_sets(args, summary)
    if not sets:  # nothing to rank: say why on stderr, exit 1 (issue 14.12)
        for reason in summary.skipped[:10]:
            print(f"  skipped: {reason}", file=sys.stderr)
        print(f"critic {args.command}: error: no candidate sets to rank in {args.input}", file=sys.stderr)
        return 1
    if args.use_expected_score:
        args.verdict_probs = True  # expected outcomes need the verdict probabilities
    critic = load_critic(args, prefix="judge-")
    try:
        stats = label_sets(critic, sets, args.output, mode=args.mode, aggregation=args.aggregation,
                           template=args.judge_template, summary=summary, make_row=make_row, noun=noun,
                           use_expected=args.use_expected_score)
    except (BackendFatalError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    summary.wall_s = time.perf_counter() - t0
    say(args, stats.render(args.output))
    if args.json:
        print_json({"output": str(args.output), "sets": stats.sets, "resumed": stats.resumed, "written": stats.written,
                    "not_written": dict(stats.not_written), "deferred": len(stats.deferred),
                    "judgments": judge_summary(summary)})
    return 0


def run_label_pairs(args: argparse.Namespace) -> int:
    from critic.dpo.pairs import pair_or_reason

    return _label(args, pair_or_reason, "pairs")


def best_row(cset: Any, ranked: Any) -> tuple[dict[str, Any] | None, str | None]:
    """The best answer of a ranked set as a pointwise item row, or None and why there is none."""
    from critic.records import PointwiseItem

    scored = [(r, i) for i, r in enumerate(ranked.rewards) if r is not None]
    if not scored:
        return None, ranked.reason or "no answer has a usable judgment"
    top = max(r for r, _ in scored)
    best = min(i for r, i in scored if r == top)
    info = {"index": best, "reward": top, "rewards": ranked.rewards, "mode": ranked.mode,
            "aggregation": ranked.aggregation, "k": ranked.k, "tied_at_top": sum(r == top for r, _ in scored),
            "judge": ranked.judge, "template": ranked.template}
    item = PointwiseItem(id=cset.id, images=cset.images, question=cset.question, reference=cset.reference,
                         group=cset.group, question_id=cset.question_id, response=cset.candidates[best],
                         meta={**(cset.meta or {}), "best_of_n": info})
    return item.to_json_dict(), None


def run_best_of_n(args: argparse.Namespace) -> int:
    return _label(args, best_row, "best answers")


# ----------------------------------------------------------------------------------- filter

def _filter_paths(out: Path) -> dict[str, Path]:
    return {name: out.with_name(f"{out.name}.{name}.jsonl") for name in ("dropped", "unscored", "judgments", "failed")}


def run_filter(args: argparse.Namespace) -> int:
    from critic.commands.errors import CommandError
    from critic.jsonl import JsonlWriter, ids_in
    from critic.judging.backends.base import BackendFatalError
    from critic.judging.run import judge_to_file
    from critic.judging.summary import JudgeSummary
    from critic.records import PointwiseItem

    t0 = time.perf_counter()
    summary = JudgeSummary()
    items = _read_kind(args, summary, PointwiseItem, "; filter scores single responses", "only the first is scored")
    paths = _filter_paths(args.output)
    done = ids_in(args.output, paths["dropped"], paths["unscored"])
    todo = [it for it in items if it.id not in done]
    summary.resumed = len(items) - len(todo)
    critic = load_critic(args, prefix="judge-")
    template = critic.template_for("pointwise", args.judge_template)
    lo, hi = template.scale or (None, None)
    if lo is not None and not (lo <= args.min_score <= hi):
        print(f"warning: --min-score {args.min_score:g} is outside {template.name}'s scale [{lo:g}, {hi:g}]",
              file=sys.stderr)
    by_id = {it.id: it for it in todo}
    kept = dropped = unscored = 0
    dropped_scores: list[float] = []
    unscored_examples: list[str] = []
    rel = args.output.parent
    with JsonlWriter(args.output, append=True, relative_to=rel) as w_kept, \
            JsonlWriter(paths["dropped"], append=True, relative_to=rel) as w_drop, \
            JsonlWriter(paths["unscored"], append=True, relative_to=rel) as w_uns:

        def route(j: Any) -> None:  # each scored (or unparseable) item to its file, with why
            nonlocal kept, dropped, unscored
            it = by_id[j.id]
            info: dict[str, Any] = {"min_score": args.min_score, "judge": j.judge, "template": j.template}
            if j.score is None:
                info.update(parse_error=j.parse_error)
                w_uns.write(it.model_copy(update={"meta": {**(it.meta or {}), "critic_filter": info}}))
                unscored += 1
                if len(unscored_examples) < 3:
                    unscored_examples.append(f"{j.id}: {j.parse_error}")
                return
            info["score"] = j.score
            keep = j.score >= args.min_score
            if not keep:
                info["reason"] = f"score {j.score:g} < {args.min_score:g}"
                dropped_scores.append(j.score)
            target = w_kept if keep else w_drop
            target.write(it.model_copy(update={"meta": {**(it.meta or {}), "critic_filter": info}}))
            kept += keep
            dropped += not keep

        try:  # resumed by the items files above, not by the judgments log
            judged = judge_to_file(critic, todo, paths["judgments"], template=template, desc="filtering",
                                   summary=summary, done=set(), failures=paths["failed"], on_judgment=route)
        except (BackendFatalError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
    summary.wall_s = time.perf_counter() - t0
    scale = f" on {template.name}'s scale [{lo:g}, {hi:g}]" if lo is not None else ""
    say(args, f"kept {kept} (score >= {args.min_score:g}{scale}) in {args.output}; dropped {dropped} in {paths['dropped']}; "
          f"unscored {unscored} (no readable verdict: neither kept nor dropped) in {paths['unscored']}; "
          f"{summary.resumed} already done")
    if dropped_scores:
        s = sorted(dropped_scores)
        say(args, f"  dropped scores: min {s[0]:g}, median {s[len(s) // 2]:g}, max {s[-1]:g}")
    for ex in unscored_examples:
        say(args, f"  unscored {ex}")
    print_run(args, judged)
    if args.json:
        print_json({"output": str(args.output), "min_score": args.min_score, "kept": kept, "dropped": dropped,
                    "unscored": unscored, "resumed": summary.resumed, **{f"{k}_path": str(v) for k, v in paths.items()},
                    "judgments": judge_summary(summary)})
    return 0

"""``critic jury``: combine several judges' pairwise judgments of the same items into one verdict per item."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from critic.commands.common_flags import add_file_output, add_json, add_limit, limited, print_json, say


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "jury", help="combine several judges' pairwise judgments: majority, weights fitted on gold, or Dawid-Skene",
        description="Each judge's verdict per item (its judgments of both orders combined), then one jury verdict "
        "with probabilities, written as judgments (critic eval reads them); OUTPUT.agreement.json holds Cohen's kappa "
        "per pair of judges and Fleiss' kappa. See docs/evaluation.md.")
    p.add_argument("--judgments", type=Path, nargs="+", required=True, metavar="J.jsonl",
                   help="one judgments file per judge (at least two)")
    p.add_argument("--gold", type=Path, default=None, help="gold labels: fits the weights of --method weighted")
    p.add_argument("--method", choices=["majority", "weighted", "dawid_skene"], default=None,
                   help="default: weighted with --gold, else majority")
    add_file_output(p, "the jury's judgments (JSONL)")
    add_limit(p, "rows of each judgments file")
    add_json(p)
    p.set_defaults(func=run_jury)


def run_jury(args: argparse.Namespace) -> int:
    from critic.commands.errors import CommandError
    from critic.evaluation.agreement import agreement_table
    from critic.evaluation.evaluate import read_judgments
    from critic.evaluation.gold import read_gold
    from critic.evaluation.jury import combine, item_verdict, jury_summary
    from critic.jsonl import RecordFileError
    from critic.records import PairwiseJudgment

    if len(args.judgments) < 2:
        raise CommandError("a jury needs at least two judgments files")
    votes: dict[str, dict[str, str]] = {}
    hashes = []
    for path in args.judgments:
        if not path.is_file():
            raise CommandError(f"not found: {path}")
        try:
            js, _ = read_judgments(path)
            js = limited(args, js)
        except RecordFileError as exc:
            raise CommandError(str(exc)) from exc
        pair = [j for j in js if isinstance(j, PairwiseJudgment) and j.error is None]
        if not pair:
            raise CommandError(f"{path}: no pairwise judgment (a jury combines pairwise verdicts)")
        name = ",".join(sorted({j.judge for j in pair}))
        if name in votes:
            name = f"{name}@{path}"
        by_item: dict[str, list[str | None]] = {}
        for j in pair:
            by_item.setdefault(j.id, []).append(j.winner)
        votes[name] = {i: v for i, ws in by_item.items() if (v := item_verdict(ws)) is not None}
        hashes += sorted({j.template_hash for j in pair})
    gold = None
    if args.gold is not None:
        golds, _ = read_gold(args.gold)
        gold = {g.id: g.label for g in golds if g.label is not None}
    method = args.method or ("weighted" if gold else "majority")
    try:
        verdicts = combine(votes, method, gold)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    judge = f"jury:{method}(" + "+".join(votes) + ")"
    t_hash = hashlib.sha256("\n".join(hashes).encode()).hexdigest()[:16]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        for verdict in verdicts:
            row = PairwiseJudgment(id=verdict.item, winner=verdict.winner, verdict_probs=verdict.probs, template=f"jury:{method}",
                                   template_hash=t_hash, judge=judge)
            f.write(json.dumps(row.to_json_dict(), ensure_ascii=False) + "\n")
    report = {"method": method, "judges": list(votes), "n_items": len(verdicts),
              "agreement": agreement_table(votes), **jury_summary(verdicts, votes, gold)}
    if method == "weighted" and gold:
        from critic.evaluation.jury import judge_weights

        report["weights"] = judge_weights(votes, gold)
    side = args.output.with_name(args.output.name.removesuffix(".jsonl") + ".agreement.json")
    side.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    ag = report["agreement"]
    for pr in ag["pairs"]:
        k = pr["cohen_kappa"]
        say(args, f"cohen kappa {pr['judges'][0]} vs {pr['judges'][1]}: {'—' if k is None else f'{k:.3f}'} (n={pr['n']})")
    fk = ag["fleiss_kappa"]
    say(args, f"fleiss kappa: {'—' if fk is None else f'{fk:.3f}'} over {ag['n_items_all_judges']} items")
    for j, a in report.get("accuracy_on_gold", {}).items():
        say(args, f"accuracy on gold {j}: {'—' if a is None else f'{a:.3f}'}")
    say(args, f"wrote {len(verdicts)} jury verdicts ({method}) to {args.output} and {side}")
    if args.json:
        print_json({"output": str(args.output), "agreement_file": str(side), **report})
    return 0

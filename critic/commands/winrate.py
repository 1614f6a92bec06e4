"""``critic winrate``: each model's win rate against a baseline, raw and length-controlled (AlpacaEval 2)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from critic.commands.common_flags import add_json, add_limit, limited, print_json, say


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "winrate", help="win rate of each response_model against a baseline, raw and length-controlled",
        description="Join pairwise judgments with their items (model_a / model_b name the models; one side is the "
        "baseline) and write a leaderboard: win rate and AlpacaEval 2's length-controlled win rate per model, with "
        "bootstrap intervals (leaderboard.md, .csv, .json, .png). See docs/evaluation.md.")
    p.add_argument("--judgments", type=Path, required=True, help="pairwise judgments JSONL (`critic judge`)")
    p.add_argument("--items", type=Path, required=True,
                   help="the judged pairwise items (model_a, model_b, responses): judgments carry neither")
    p.add_argument("--baseline", required=True, metavar="MODEL", help="the baseline model's name")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--difficulty", type=Path, default=None,
                   help="per-instruction difficulty: JSON {id: value} or JSONL rows {id, difficulty}, keyed by the "
                        "item's question_id (else id); without it the GLM has no difficulty term")
    p.add_argument("--n-resamples", type=int, default=200, help="bootstrap refits per model (default 200)")
    p.add_argument("--confidence", type=float, default=0.95, help="interval coverage (default 0.95)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--no-plots", action="store_true", help="no leaderboard.png")
    add_limit(p, "judgment rows")
    add_json(p)
    p.set_defaults(func=run_winrate)


def read_difficulty(path: Path) -> dict[str, float]:
    """``{id: value}`` from a JSON object or JSONL rows with ``id`` and ``difficulty``."""
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        return {str(k): float(v) for k, v in data.items()}
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return {str(r["id"]): float(r["difficulty"]) for r in rows}


def run_winrate(args: argparse.Namespace) -> int:
    from critic.commands.errors import CommandError
    from critic.evaluation.evaluate import read_judgments
    from critic.evaluation.winrate import leaderboard, win_rows
    from critic.evaluation.winrate_report import write_leaderboard
    from critic.jsonl import RecordFileError, read_records
    from critic.records import PairwiseItem

    for f in (args.judgments, args.items, args.difficulty):
        if f is not None and not f.is_file():
            raise CommandError(f"not found: {f}")
    try:
        items, item_errors = read_records(args.items, PairwiseItem, resolve_images=False)
        judgments, j_errors = read_judgments(args.judgments)
        judgments = limited(args, judgments)
        difficulty = read_difficulty(args.difficulty) if args.difficulty else None
    except (RecordFileError, ValueError, KeyError) as exc:
        raise CommandError(f"cannot read the inputs: {exc}") from exc
    rows, skipped = win_rows(items, judgments, args.baseline, difficulty)
    if not rows:
        raise CommandError(f"no judged item puts a model against the baseline {args.baseline!r} "
                           f"(left out: {skipped}); model_a / model_b must name it")
    board = leaderboard(rows, use_difficulty=difficulty is not None, n_resamples=args.n_resamples,
                        confidence=args.confidence, seed=args.seed)
    meta = {"baseline": args.baseline, "judges": sorted({j.judge for j in judgments}),
            "difficulty": str(args.difficulty) if args.difficulty else None,
            "difficulty_term": difficulty is not None, "n_resamples": args.n_resamples,
            "confidence": args.confidence, "skipped": skipped,
            "input_problems": len(item_errors) + len(j_errors)}
    write_leaderboard(board, meta, args.out, plot=not args.no_plots)
    for k, m in enumerate(board, 1):
        say(args, f"{k:>3}  {m.model:<28} LC {m.lc_win_rate:5.1f}  raw {m.win_rate:5.1f}  (n={m.n})")
    say(args, f"wrote {args.out / 'leaderboard.md'}")
    if args.json:
        print_json({"out": str(args.out), **meta, "leaderboard": [m.to_dict() for m in board]})
    return 0

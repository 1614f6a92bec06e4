"""``critic pairs build RECIPE.yaml --out DIR``: preference pairs per source — correctness, Dropout NTP or critic."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from critic.assets import shipped_or_given
from critic.commands.hub_options import add_push_options, check_push_options, push_after


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pairs", help="build DPO pairs per source: correctness (MMPR), Dropout NTP (MMPR) or a critic",
                       description="Preference pairs without a judge (MMPR) and with one. See docs/preferences.md.")
    psub = p.add_subparsers(dest="pairs_command", metavar="ACTION")
    psub.required = True
    b = psub.add_parser(
        "build", help="run a pairs recipe (data_recipes/toy_mmpr.yaml): sample, pair, mix; resumable",
        description="Sample answers from the recipe's policy (a local checkpoint or an OpenAI-compatible server) "
        "and make pairs per source with its method: correctness (parsed answer vs. gold), dropout_ntp (own answer "
        "vs. its prefix finished without the image) or critic (a judge's tournament). Writes DIR/pairs.jsonl "
        "(TRL's layout, method and source per row), DIR/sources/NAME/ and DIR/stats.json. A rerun resumes.")
    b.add_argument("recipe", type=Path, help="pairs recipe (YAML)")
    b.add_argument("--out", type=Path, required=True, help="output folder")
    add_push_options(b, "DIR")
    b.set_defaults(func=run_build)


def run_build(args: argparse.Namespace) -> int:
    from critic.commands.errors import CommandError
    from critic.jsonl import RecordFileError
    from critic.judging.backends.base import BackendFatalError
    from critic.pairs.build import build_pairs
    from critic.pairs.recipe import PairsRecipeError, load_pairs_recipe

    check_push_options(args)
    try:
        args.recipe = shipped_or_given(args.recipe, "data_recipes")
        recipe = load_pairs_recipe(args.recipe)
    except PairsRecipeError as exc:
        raise CommandError(str(exc)) from exc
    missing = [s.path for s in recipe.sources if not Path(s.path).is_file()]
    if missing:
        raise CommandError(f"{args.recipe}: prompts file(s) not found: {', '.join(missing)}")
    try:
        stats = build_pairs(recipe, args.out)
    except (BackendFatalError, RecordFileError, RuntimeError, ValueError, OSError) as exc:
        raise CommandError(str(exc)) from exc
    for s in stats["sources"]:
        print(json.dumps({k: s[k] for k in ("name", "method", "pairs", "pair_types", "dropped", "samples_per_s",
                                            "pairs_per_s")}))
    push_after(args, args.out, "dataset")
    return 0

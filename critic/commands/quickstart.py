"""``critic quickstart``: the whole pipeline on the toy world, offline, in minutes on a CPU."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "quickstart", help="run the whole pipeline on the toy world (offline, CPU, about 4 minutes on 2 cores)",
        description="Make toy-world items, start the oracle teacher on a free loopback port and distil a critic "
        "dataset through it (data_recipes/toy.yaml), train a tiny critic (train/toy.yaml), judge held-out items "
        "pointwise and pairwise in both orders, evaluate against gold and label DPO pairs. Each stage prints the "
        "critic command it runs. A second run with the same --out reuses the caches and the checkpoint.",
    )
    p.add_argument("--out", type=Path, default=Path("runs/quickstart"), help="output folder (default runs/quickstart)")
    p.add_argument("--n-heldout", type=int, default=200, help="held-out items per task (default 200)")
    p.add_argument("--candidate-sets", type=int, default=8, help="candidate sets to label (default 8)")
    p.add_argument("--k", type=int, default=4, help="candidates per set (default 4)")
    p.add_argument("--recipe", type=Path, default=None, help="data recipe (default: the shipped data_recipes/toy.yaml)")
    p.add_argument("--train-config", type=Path, default=None, help="training config (default: the shipped train/toy.yaml)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed N: the recipe's seed (split), its toy sources' item seeds (+10 N), the training and "
                   "model-init seeds; held-out items stay fixed (default: recipe and config as written, i.e. seed 0)")
    p.add_argument("--retrain", action="store_true", help="train again even if the checkpoint is up to date")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("overrides", nargs="*", metavar="--section.key VALUE",
                   help="training config overrides, as for `critic train` (after --)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from critic.commands.errors import CommandError
    from critic.commands.main import main
    from critic.toy.quickstart import (
        QuickstartError,
        QuickstartOptions,
        env_for_quickstart,
        run_quickstart,
        summary_text,
    )

    if args.n_heldout < 2 or args.candidate_sets < 1 or args.k < 2:
        raise CommandError("--n-heldout must be at least 2, --candidate-sets at least 1 and --k at least 2")
    env_for_quickstart()
    opts = QuickstartOptions(out=args.out, n_heldout=args.n_heldout, n_candidate_sets=args.candidate_sets, k=args.k,
                             recipe=args.recipe, train_config=args.train_config, train_overrides=args.overrides,
                             retrain=args.retrain, seed=args.seed,
                             progress=not args.no_progress and sys.stderr.isatty(), runner=main)
    t0 = time.perf_counter()
    try:
        res = run_quickstart(opts)
    except QuickstartError as exc:
        raise CommandError(str(exc)) from exc
    print(summary_text(res, time.perf_counter() - t0))
    return 0 if res.meets_bar else 1

"""``critic dpo CONFIG.yaml``: iterative DPO with the critic as the preference labeller (extra ``dpo``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from critic.assets import shipped_or_given


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dpo", help="iterative DPO: sample K answers, label pairs with the critic, train; M rounds",
        description="Run (or resume) iterative DPO as CONFIG.yaml says (see train/dpo_toy.yaml and "
        "docs/preferences.md). Each round samples K answers per prompt from the newest policy, ranks "
        "them with the critic, trains one DPO round with TRL and keeps samples, pairs, rewards and the "
        "checkpoint in OUTPUT_DIR/round_N. Rerunning resumes where it stopped. Needs `pip install critic[dpo]`.",
        epilog="Override any config key after the file: --dpo.beta 0.2 --rounds=2 (a bare key works when unique).",
    )
    p.add_argument("config", type=Path, help="run config (YAML)")
    p.add_argument("overrides", nargs=argparse.REMAINDER, help="--section.key value ...")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import importlib.util

    from critic.commands.errors import CommandError
    from critic.dpo.config import DPOConfigError, load_dpo_config
    from critic.judging.backends.base import BackendFatalError

    try:
        args.config = shipped_or_given(args.config, "train_configs")
        cfg = load_dpo_config(args.config, list(args.overrides or []))
    except DPOConfigError as exc:
        raise CommandError(str(exc)) from exc
    missing = [m for m in ("trl", "peft") if importlib.util.find_spec(m) is None]
    if missing:
        raise CommandError(f"critic dpo needs {' and '.join(missing)}: pip install 'critic[dpo]'")
    from critic.dpo.loop import run as run_loop

    try:
        run_loop(cfg)
    except (BackendFatalError, RuntimeError, ValueError, OSError) as exc:
        raise CommandError(str(exc)) from exc
    return 0

"""``critic train CONFIG.yaml [--key value ...] [--resume]``: fine-tune a critic."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from critic.assets import shipped_or_given
from critic.commands.hub_options import add_push_options, check_push_options, push_after

EPILOG = """\
overrides: any config key, as --section.key VALUE or --section.key=VALUE (the bare key works when it
is unambiguous), e.g. --train.learning_rate 1e-5 --data.packing false --train.output_dir runs/x
(values are read as YAML: true/false, numbers, [a, b]).

multi-process: torchrun --nproc_per_node 8 -m critic train CONFIG.yaml
               accelerate launch --config_file train/accelerate/multi_gpu.yaml -m critic train CONFIG.yaml
DeepSpeed:     set train.deepspeed: zero2 | zero3 | path/to/ds.json (pip install 'critic[deepspeed]')
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="fine-tune a vision-language critic (cross-entropy on rationale + verdict)",
        description="Fine-tune a LLaVA-style critic on critic training samples (TrainingSample JSONL, as "
        "`critic data build` writes). Checkpoints carry the model, processor, chat template and critic.json, "
        "so `Critic.from_pretrained(output_dir)` judges with no other argument.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", type=Path, help="training config (YAML): sections model, data, train, eval")
    p.add_argument("--resume", action="store_true",
                   help="continue from the last complete checkpoint in train.output_dir")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    add_push_options(p, "the saved critic (train.output_dir)")
    p.add_argument("overrides", nargs=argparse.REMAINDER, help="--section.key VALUE config overrides")
    p.set_defaults(func=run)


FLAGS = {"--resume": "resume", "--print-config": "print_config", "--public": "public",
         "--push-dry-run": "push_dry_run"}


def split_flags(args: argparse.Namespace) -> list[str]:
    """Pull --resume / --print-config / the push flags out of the overrides (they may come after the config path)."""
    rest, tokens = [], list(args.overrides or [])
    while tokens:
        tok = tokens.pop(0)
        if tok in FLAGS:
            setattr(args, FLAGS[tok], True)
        elif tok == "--push-to-hub" and tokens:
            args.push_to_hub = tokens.pop(0)
        elif tok.startswith("--push-to-hub="):
            args.push_to_hub = tok.split("=", 1)[1]
        else:
            rest.append(tok)
    return rest


def run(args: argparse.Namespace) -> int:
    import yaml

    from critic.commands.errors import CommandError
    from critic.training.config import ConfigError, load_config

    try:
        args.config = shipped_or_given(args.config, "train_configs")
        cfg = load_config(args.config, split_flags(args))
    except ConfigError as exc:
        raise CommandError(str(exc)) from exc
    check_push_options(args)
    if args.print_config:
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
        return 0
    from critic.training.data import DataError
    from critic.training.divergence import TrainingDiverged
    from critic.training.encode import EncodeError
    from critic.training.objectives import run_training
    from critic.training.reward_data import PairDataError
    from critic.training.trainer import TrainError

    try:
        summary = run_training(cfg, resume=args.resume)  # by train.objective: generative, scalar, critique_score
    except (DataError, EncodeError, TrainError, TrainingDiverged, PairDataError, ImportError) as exc:
        raise CommandError(str(exc)) from exc
    import os

    if summary.output_dir and int(os.environ.get("RANK", "0")) == 0:
        loss = summary.final_loss
        print(f"trained {summary.global_step} steps in {summary.wall_s:.0f} s"
              + (f", final loss {loss:.4f}" if loss is not None else "")
              + f"; critic saved to {summary.output_dir}", file=sys.stderr)
        push_after(args, summary.output_dir, "model")
    return 0

"""The ``critic`` command: one sub-command per job, each defined in :mod:`critic.commands`.

Command modules expose ``register(subparsers)``; heavy libraries (torch, transformers) are imported
inside the command's ``run`` so ``critic --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from critic import __version__
from critic.commands.errors import CommandError
from critic.extras import EXTRAS, MissingExtra, extra_for, require

# Order here is the order in `critic --help`.
COMMAND_MODULES = [
    "critic.commands.quickstart",
    "critic.commands.templates",
    "critic.commands.toy",
    "critic.commands.data",
    "critic.commands.train",
    "critic.commands.judge",
    "critic.commands.serve",
    "critic.commands.eval",
    "critic.commands.winrate",
    "critic.commands.jury",
    "critic.commands.view",
    "critic.commands.prefs",
    "critic.commands.pairs",
    "critic.commands.dpo",
]

#: Commands that need an optional extra as a whole, checked before they start. The others check where
#: they need one (``--backend hf`` in ``judging/backends/make``), and a ModuleNotFoundError of an
#: extra's library anywhere is reported with the extra to install (``critic.extras``).
COMMAND_EXTRAS = {"quickstart": ("train",), "data": ("data",), "train": ("train",), "dpo": ("train", "dpo")}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="critic",
        description="Build, train, run and measure generative vision-language critics.",
    )
    parser.add_argument("--version", action="version", version=f"critic {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        require(*COMMAND_EXTRAS.get(args.command, ()), what=f"critic {args.command}")
        rc = args.func(args)
        sys.stdout.flush()  # inside the try: a closed pipe is noticed here, not at interpreter exit
    except (CommandError, MissingExtra) as exc:
        print(f"critic {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:  # an optional library imported deep inside a stage
        extra = extra_for(exc.name)
        if extra is None:
            raise
        top = str(exc.name).split(".")[0]
        extra = next((e for e in COMMAND_EXTRAS.get(args.command, ()) if top in EXTRAS[e]), extra)
        print(f"critic {args.command}: error: {MissingExtra(extra, f'critic {args.command}', [str(exc.name)])}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `critic ... | head`: the reader has all it wanted
        _silence_stdout()
        return 0
    return int(rc or 0)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush raises no second BrokenPipeError."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (captured in tests)
        pass

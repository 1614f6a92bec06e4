"""``--rubric FILE``: one rubric (text, or a prometheus-style JSON / YAML dict) for every item without its own."""

from __future__ import annotations

import argparse
from pathlib import Path

RUBRIC_HELP = ("rubric for items that carry none: a text file, or JSON / YAML with criteria and scoreN_description "
               "(prometheus-style); shown by templates that take a rubric (in the prompt, the cache key and "
               "each judgment)")


def add_rubric_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rubric", type=Path, default=None, metavar="FILE", help=RUBRIC_HELP)


def apply_rubric(args: argparse.Namespace, items: list) -> list:
    """``items`` with ``--rubric``'s text given to each that has no rubric of its own (a CommandError if unreadable)."""
    if getattr(args, "rubric", None) is None:
        return items
    from critic.commands.errors import CommandError
    from critic.rubrics import read_rubric_file

    try:
        text = read_rubric_file(args.rubric)
    except (OSError, ValueError) as exc:
        raise CommandError(f"--rubric {args.rubric}: {exc}") from exc
    return [it if it.rubric else it.model_copy(update={"rubric": text}) for it in items]

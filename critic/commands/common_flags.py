"""The flags every command spells the same way (issue 21).

* ``--output FILE`` whenever a command writes one file (``judge``, ``label-pairs``, ``best-of-n``, ``filter``,
  ``view``, ``jury``); ``--out DIR`` whenever it writes a folder (``eval``, ``eval-bench``, ``winrate``,
  ``data build``, ``pairs build``, ``toy make``, ``quickstart``).
* ``--limit N``: only the first N items (rows) of the input are used, on every command that reads items.
* ``--json``: the command's summary as one JSON object on stdout; diagnostics stay on stderr.

An old spelling is accepted for one release: :class:`DeprecatedAlias` stores to the same ``dest`` and warns
on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class DeprecatedAlias(argparse.Action):
    """Stores like the flag it stands for (``preferred``) and warns on stderr that the spelling is old."""

    def __init__(self, option_strings: list[str], dest: str, preferred: str = "", **kwargs: Any) -> None:
        self.preferred = preferred
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print(f"warning: {option_string} is deprecated for this command: use {self.preferred}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_file_output(p: argparse.ArgumentParser, help: str, *, required: bool = True, metavar: str = "FILE") -> None:
    """``--output FILE`` (dest ``output``), with ``--out`` as a deprecated alias."""
    group = p.add_mutually_exclusive_group(required=required)
    group.add_argument("--output", type=Path, metavar=metavar, help=help)
    group.add_argument("--out", dest="output", type=Path, action=DeprecatedAlias, preferred="--output",
                       help=argparse.SUPPRESS)


def add_limit(p: argparse.ArgumentParser, what: str = "items") -> None:
    p.add_argument("--limit", type=_positive_int, default=None, metavar="N", help=f"use only the first N {what}")


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true",
                   help="print the summary as one JSON object on stdout (diagnostics stay on stderr)")


def limited(args: argparse.Namespace, rows: Sequence[T]) -> list[T]:
    """The first ``--limit`` rows (all of them without the flag)."""
    n = getattr(args, "limit", None)
    return list(rows) if n is None else list(rows)[:n]


def wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def say(args: argparse.Namespace, *text: Any) -> None:
    """Human-readable output: stdout normally, stderr under ``--json`` (stdout then holds only the JSON)."""
    print(*text, file=sys.stderr if wants_json(args) else sys.stdout)


def print_json(summary: dict[str, Any]) -> None:
    print(json.dumps(summary, ensure_ascii=False, default=_jsonable))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    if hasattr(value, "__dict__"):
        return {k: v for k, v in vars(value).items() if not k.startswith("_")}
    return str(value)


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def judge_summary(summary: Any) -> dict[str, Any]:
    """A :class:`~critic.judging.summary.JudgeSummary` as the ``--json`` object's counts."""
    return {"judged": summary.judged, "cached": summary.cached, "resumed": summary.resumed,
            "parse_failures": summary.n_parse_failures, "failed": len(summary.failed),
            "skipped_inputs": len(summary.skipped), "prompt_tokens": summary.prompt_tokens,
            "completion_tokens": summary.completion_tokens, "cost": summary.cost, "wall_s": round(summary.wall_s, 3)}


def print_run(args: argparse.Namespace, judged: Any) -> None:
    """A judging run's summary: its usual text, all on stderr under ``--json``."""
    if not wants_json(args):
        judged.print()
        return
    print(judged.render(), file=sys.stderr)

"""``--map FIELD=COLUMN`` and ``--label-map VALUE=LABEL``: reading users' own files (``critic.item_files``).

``critic judge``, ``critic eval`` and ``critic label-pairs`` (with ``best-of-n`` and ``filter``) take
their input as JSONL, JSON, CSV, parquet or a ``datasets`` folder, with columns named as the user's
file names them.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

MAP_HELP = ("map an item field to a column of the input (repeatable: --map question=prompt --map "
            "response_a=answer_1); fields it leaves out are read from same-named columns")
LABEL_MAP_HELP = "map a label value to A / B / tie (repeatable: --label-map 1=A --label-map 2=B)"


def add_map_options(p: argparse.ArgumentParser, *, dest: str = "map", flag: str = "--map") -> None:
    p.add_argument(flag, dest=dest, action="append", default=None, metavar="FIELD=COLUMN", help=MAP_HELP)
    if not any(a.dest == "label_map" for a in p._actions):
        p.add_argument("--label-map", dest="label_map", action="append", default=None, metavar="VALUE=LABEL",
                       help=LABEL_MAP_HELP)


def column_map(args: argparse.Namespace, dest: str = "map", *, items: bool = True) -> tuple[dict[str, Any], dict[str, str]]:
    """The parsed ``(columns, label_map)`` (a :class:`CommandError` for a malformed pair).

    ``items``: the map names item fields (checked here); otherwise its reader checks the names.
    """
    from critic.commands.errors import CommandError
    from critic.item_files import MAP_FIELDS, parse_label_map, parse_map

    try:
        known = None if not items else MAP_FIELDS
        return parse_map(getattr(args, dest, None), known=known), parse_label_map(getattr(args, "label_map", None))
    except ValueError as exc:
        raise CommandError(str(exc)) from exc


def is_datasets_folder(path: Path) -> bool:
    return any((path / name).is_file() for name in ("dataset_dict.json", "dataset_info.json", "state.json"))


def read_input(args: argparse.Namespace, path: Path, *, strict: bool, dest: str = "map") -> Any:
    """:func:`critic.item_files.read_item_file` for a command: its problems as a :class:`CommandError`."""
    from critic.commands.errors import CommandError
    from critic.item_files import read_item_file
    from critic.jsonl import RecordFileError

    if path.is_dir() and not is_datasets_folder(path):
        raise CommandError(f"{path} is a folder, but not a `datasets` folder (save_to_disk); give the items file")
    columns, label_map = column_map(args, dest)
    try:
        return read_item_file(path, columns=columns, label_map=label_map, strict=strict)
    except RecordFileError as exc:
        raise CommandError(str(exc)) from exc

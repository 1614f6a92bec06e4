"""Source ``pairwise_file``: preference pairs in JSON, JSONL or CSV files, columns mapped by the recipe.

Columns map onto item fields (:mod:`critic.data.sources.columns`), e.g. ``{question: prompt,
response_a: "response 1", response_b: "response 2", label: label}``; a list of label columns is a
vote (the majority wins; no majority is reported, not guessed). JSON arrays are streamed.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from critic.data.recipe import PairwiseFileSource, resolve_path
from critic.data.sources import MALFORMED, SourceEvent, SourceItem, SourceProblem
from critic.data.sources.columns import map_row
from critic.data.sources.json_stream import JsonArrayError, iter_json_array


def iter_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """``(line, row)`` for a JSONL, JSON-array or CSV file (by extension; JSON sniffed by content).

    A malformed line or element is yielded as ``(line, JsonArrayError)``.
    """
    if path.suffix.lower() == ".csv":
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            for row in reader:
                yield reader.line_num, row
        return
    with open(path, encoding="utf-8") as fh:
        head = fh.read(4096).lstrip("\ufeff \t\r\n")
    if head.startswith("["):
        try:
            yield from iter_json_array(path)
        except JsonArrayError as exc:
            yield exc.line, exc
        return
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    yield lineno, json.loads(line)
                except json.JSONDecodeError as exc:
                    yield lineno, JsonArrayError(lineno, f"not valid JSON: {exc.msg}")


def read_pairs(path: Path, columns: dict[str, str | list[str]], labels: dict[str, str], *,
               image_folder: Path | None, gold_scale: tuple[float, float] | None,
               fixed_label: str | None = None) -> Iterator[SourceEvent]:
    """Map every row of ``path`` to a pairwise item (or a problem)."""
    for k, (line, row) in enumerate(iter_rows(path)):
        where = f"{path}:{line}"
        if isinstance(row, JsonArrayError):
            yield SourceProblem(where, MALFORMED, row.problem)
            continue
        if not isinstance(row, dict):
            yield SourceProblem(where, MALFORMED, "expected an object")
            continue
        got = map_row(row, columns, labels, where, default_id=str(k), image_folder=image_folder or path.parent,
                       same_names=False)
        if isinstance(got, SourceProblem):
            yield got
            continue
        item = got[0]
        if fixed_label is not None and item.label is None:
            item.label = fixed_label  # type: ignore[union-attr]
        yield SourceItem(item, where, pil_images=got[1], gold_scale=gold_scale)


def read(cfg: PairwiseFileSource, recipe_path: str | Path) -> Iterator[SourceEvent]:
    path = resolve_path(recipe_path, cfg.path)
    folder = resolve_path(recipe_path, cfg.image_folder) if cfg.image_folder else None
    yield from read_pairs(path, cfg.columns, cfg.labels, image_folder=folder, gold_scale=cfg.gold_scale,
                          fixed_label=cfg.fixed_label)

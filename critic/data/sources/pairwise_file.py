"""Source ``pairwise_file``: preference pairs in JSON, JSONL or CSV files, columns mapped by the recipe.

Rows are read with :func:`critic.rows.read_rows` (JSON arrays streamed) and mapped with the column
map of :mod:`critic.data.sources.columns`, e.g. ``columns: {question: prompt, response_a: "response
1", response_b: "response 2", label: label}``; a list of label columns is a vote (the majority wins;
no majority is reported, not guessed) and ``label_map`` says what the label values mean.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from critic.data.recipe import PairwiseFileSource, resolve_path
from critic.data.sources import MALFORMED, SourceEvent, SourceItem, SourceProblem
from critic.data.sources.columns import map_row
from critic.rows import read_rows


def read_pairs(path: Path, columns: dict[str, str | list[str]], label_map: Mapping[str, str], *,
               image_folder: Path | None, gold_scale: tuple[float, float] | None,
               fixed_label: str | None = None) -> Iterator[SourceEvent]:
    """Map every row of ``path`` to a pairwise item (or a problem)."""
    for k, row in enumerate(read_rows(path)):
        if row.value is None:
            yield SourceProblem(row.where, MALFORMED, row.problem or "no row")
            continue
        got = map_row(row.value, columns, label_map, row.where, default_id=str(k),
                      image_folder=image_folder or path.parent, same_names=False)
        if isinstance(got, SourceProblem):
            yield got
            continue
        item = got[0]
        if fixed_label is not None and item.label is None:  # type: ignore[union-attr]
            item.label = fixed_label  # type: ignore[union-attr]
        yield SourceItem(item, row.where, pil_images=got[1], gold_scale=gold_scale)


def read(cfg: PairwiseFileSource, recipe_path: str | Path) -> Iterator[SourceEvent]:
    path = resolve_path(recipe_path, cfg.path)
    folder = resolve_path(recipe_path, cfg.image_folder) if cfg.image_folder else None
    yield from read_pairs(path, cfg.columns, cfg.label_map, image_folder=folder, gold_scale=cfg.gold_scale,
                          fixed_label=cfg.fixed_label)

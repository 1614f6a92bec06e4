"""Source ``hf_disk``: a ``datasets`` dataset saved with ``save_to_disk`` (Arrow, memory-mapped).

Rows are read one at a time and mapped onto items with :mod:`critic.data.sources.columns` (``columns``
and ``label_map``, the vocabulary of :mod:`critic.rows`; by default a column per item field, same
name). An image column may hold file paths (relative to ``image_folder``) or pictures (a
``datasets.Image`` feature); pictures stay in memory until the builder writes them into the dataset.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from critic.data.recipe import HFDiskSource, resolve_path
from critic.data.sources import MALFORMED, SourceEvent, SourceItem, SourceProblem
from critic.data.sources.columns import map_row


def read(cfg: HFDiskSource, recipe_path: str | Path) -> Iterator[SourceEvent]:
    import datasets

    path = resolve_path(recipe_path, cfg.path)
    try:
        ds = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        yield SourceProblem(f"{path}:0", MALFORMED, f"cannot load the dataset: {exc}")
        return
    split = cfg.split
    if isinstance(ds, datasets.DatasetDict):
        if split is None:
            if len(ds) != 1:
                yield SourceProblem(f"{path}:0", MALFORMED, f"several splits {sorted(ds)}; name one with split:")
                return
            split = next(iter(ds))
        if split not in ds:
            yield SourceProblem(f"{path}:0", MALFORMED, f"no split {split!r}; it has {sorted(ds)}")
            return
        ds = ds[split]
    folder = resolve_path(recipe_path, cfg.image_folder) if cfg.image_folder else path
    name = f"{path}[{split}]" if split else str(path)
    for i, row in enumerate(ds):
        where = f"{name}:{i}"
        got = map_row(row, cfg.columns, cfg.label_map, where, default_id=str(i), image_folder=folder)
        if isinstance(got, SourceProblem):
            yield got
        else:
            yield SourceItem(got[0], where, pil_images=got[1], gold_scale=cfg.gold_scale)

"""A table row (a dict of columns) → an item for ``critic data build``, as a recipe's column map says.

The vocabulary (``columns``, ``label_map``, dotted names, joined questions, label votes) is the one
benchmark definitions use too: :mod:`critic.rows`. This module adds what a dataset build needs on
top: image columns holding paths (relative to the image folder) or pictures (kept in memory),
``rationale`` → ``meta.rationale`` (the ``gold`` target mode), question and reference as stripped
text, a default id, and every problem as a :class:`~critic.data.sources.SourceProblem`.

>>> row = {"prompt": "Which?", "r1": "x", "r2": "y", "votes1": 1, "votes2": 1, "votes3": 2}
>>> cols = {"question": "prompt", "response_a": "r1", "response_b": "r2", "label": ["votes1", "votes2", "votes3"]}
>>> map_row(row, cols, {"1": "A", "2": "B"}, "f:1", default_id="7")[0].label
'A'
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from PIL import Image

from critic.data.sources import INVALID_FIELD, MISSING_FIELD, NO_MAJORITY, SourceProblem, make_item
from critic.records import PairwiseItem, PointwiseItem
from critic.rows import ColumnError, map_columns

#: The item fields a recipe's ``columns`` may name (unnamed ones are read from same-named columns
#: where the source allows it).
FIELDS = ("id", "question", "reference", "response", "response_a", "response_b", "label", "score",
          "images", "rationale", "group", "question_id")


def _text(v: Any) -> str:
    return "" if v is None else str(v)


def map_row(row: Mapping[str, Any], columns: Mapping[str, str | list[str]], label_map: Mapping[str, str] | None,
            where: str, *, default_id: str, image_folder: Path | None = None, same_names: bool = True,
            ) -> tuple[PointwiseItem | PairwiseItem, list[Image.Image] | None] | SourceProblem:
    """The item a row makes (and its in-memory images, if the image column holds pictures).

    With ``same_names`` a field not in ``columns`` is read from the column of its own name, if any.
    """
    unknown = sorted(set(columns) - set(FIELDS))
    if unknown:
        return SourceProblem(where, INVALID_FIELD, f"columns: unknown item field(s) {unknown}; known: {list(FIELDS)}")
    try:
        data = map_columns(row, columns, label_map, fields=FIELDS, same_names=same_names)
    except ColumnError as exc:
        return SourceProblem(where, MISSING_FIELD if exc.kind == "missing" else NO_MAJORITY, str(exc))
    for field in ("question", "reference"):
        if field in data:
            data[field] = _text(data[field]).strip()
    pil: list[Image.Image] | None = None
    if "images" in data:
        pil, data["images"] = _images(data["images"], image_folder)
    if "rationale" in data:
        data["meta"] = {"rationale": _text(data.pop("rationale"))}
    data.setdefault("id", default_id)
    item = make_item(data, where)
    return item if isinstance(item, SourceProblem) else (item, pil)


def _images(value: Any, folder: Path | None) -> tuple[list[Image.Image] | None, list[str]]:
    """(in-memory pictures or None, image entries): paths resolved against ``folder``."""
    values = value if isinstance(value, list) else [value]
    values = [v for v in values if v is not None and v != ""]
    if values and all(isinstance(v, Image.Image) for v in values):
        return list(values), [f"memory:{i}" for i in range(len(values))]
    out = []
    for v in values:
        if isinstance(v, dict):  # an undecoded `datasets` Image: {"bytes": ..., "path": ...}
            if v.get("bytes"):
                import io

                return [Image.open(io.BytesIO(v["bytes"]))], ["memory:0"]
            v = v.get("path")
        p = Path(str(v))
        out.append(str(p if p.is_absolute() or folder is None else folder / p))
    return None, out

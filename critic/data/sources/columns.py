"""Map a table row (a dict of columns) onto item fields, as a recipe's ``columns:`` says.

``columns`` maps an item field to a column name, or to a list of names: for ``question`` (and
``reference``) the non-empty values are joined by a blank line (PandaLM's instruction + input);
for ``label`` each column is one vote and the majority wins. ``labels`` maps column values (as text)
to ``A`` / ``B`` / ``tie``. ``rationale`` goes to ``meta.rationale`` (the ``gold`` target mode).

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

from critic.data.sources import INVALID_FIELD, MISSING_FIELD, NO_MAJORITY, SourceProblem, majority, make_item
from critic.records import PairwiseItem, PointwiseItem

FIELDS = ("id", "question", "reference", "response", "response_a", "response_b", "label", "score",
          "images", "rationale", "group", "question_id")


def _get(row: Mapping[str, Any], col: str, where: str) -> Any:
    if col not in row:
        raise KeyError(col)
    return row[col]


def _text(v: Any) -> str:
    return "" if v is None else str(v)


def map_row(row: Mapping[str, Any], columns: Mapping[str, str | list[str]], labels: Mapping[str, str] | None,
            where: str, *, default_id: str, image_folder: Path | None = None, same_names: bool = True,
            ) -> tuple[PointwiseItem | PairwiseItem, list[Image.Image] | None] | SourceProblem:
    """The item a row makes (and its in-memory images, if the image column holds pictures).

    With ``same_names`` a field not in ``columns`` is read from the column of its own name, if any.
    """
    unknown = sorted(set(columns) - set(FIELDS))
    if unknown:
        return SourceProblem(where, INVALID_FIELD, f"columns: unknown item field(s) {unknown}; known: {list(FIELDS)}")
    cols = {f: columns.get(f, f) for f in FIELDS} if same_names else dict(columns)
    data: dict[str, Any] = {}
    pil: list[Image.Image] | None = None
    try:
        for field, col in cols.items():
            names = col if isinstance(col, list) else [col]
            present = [n for n in names if n in row]
            if not present:
                if field in columns:  # asked for explicitly: it must be there
                    raise KeyError(names[0])
                continue
            if field in ("question", "reference"):
                data[field] = "\n\n".join(_text(row[n]).strip() for n in present if _text(row[n]).strip())
            elif field == "label":
                votes = [_text(row[n]) for n in present]
                mapped = [labels.get(v, v) if labels else v for v in votes]
                if len(mapped) > 1:
                    winner = majority(mapped)
                    if winner is None:
                        return SourceProblem(where, NO_MAJORITY, f"votes {votes} have no majority")
                    mapped = [winner]
                data["label"] = mapped[0]
            elif field == "images":
                pil, data["images"] = _images(_get(row, present[0], where), image_folder)
            elif field == "rationale":
                data.setdefault("meta", {})["rationale"] = _text(row[present[0]])
            else:
                data[field] = row[present[0]]
    except KeyError as exc:
        return SourceProblem(where, MISSING_FIELD, f"column {exc.args[0]!r} is missing")
    data.setdefault("id", default_id)
    if data.get("label") == "" or data.get("label") is None:
        data.pop("label", None)
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

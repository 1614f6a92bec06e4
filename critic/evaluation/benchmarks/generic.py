"""Any pairwise or pointwise JSON / JSONL / CSV file, through a column map.

``options``:

- ``task``: ``pairwise`` or ``pointwise``;
- ``columns``: item field → your column, or a list of columns (:mod:`critic.rows`: dotted names
  reach into nested objects, e.g. ``answer1.answer``; a list of question columns is joined, a list
  of label columns is a majority vote); fields ``id``, ``question``, ``images`` (a path or a
  list), ``response`` or ``response_a`` / ``response_b``, ``label`` or ``score``, and optionally
  ``group``, ``question_id``, ``response_model``, ``model_a``, ``model_b``, ``reference``. An
  unmapped field is read from the column of its own name;
- ``label_map``: your label value → ``A`` / ``B`` / ``tie`` (e.g. ``{model_a: A, model_b: B, C: tie}``).

The same two keys map the columns of a ``pairwise_file`` or ``hf_disk`` source in a data recipe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from critic.evaluation.benchmarks import Collector, LoadResult, RowError, find_image
from critic.records import PairwiseItem, PointwiseItem
from critic.rows import lookup, map_columns

FIELDS = {
    "pairwise": ("id", "question", "images", "response_a", "response_b", "label", "group", "question_id", "model_a",
                 "model_b", "reference"),
    "pointwise": ("id", "question", "images", "response", "score", "group", "question_id", "response_model",
                  "reference"),
}


def load(path: Path, *, image_root: Path, options: dict[str, Any]) -> LoadResult:
    task = options.get("task", "pairwise")
    if task not in FIELDS:
        raise ValueError(f"generic: options.task must be pairwise or pointwise, got {task!r}")
    columns = dict(options.get("columns") or {})
    unknown = set(columns) - set(FIELDS[task])
    if unknown:
        raise ValueError(f"generic: unknown item fields in options.columns: {sorted(unknown)}")
    label_map = {str(k): v for k, v in (options.get("label_map") or {}).items()}
    gold = "label" if task == "pairwise" else "score"
    cls = PairwiseItem if task == "pairwise" else PointwiseItem
    col = Collector(path)
    for where, row in col.rows():

        def make(row: dict[str, Any] = row) -> PairwiseItem | PointwiseItem:
            data = map_columns(row, columns, label_map, fields=FIELDS[task], strict=False)
            images = data.pop("images", None)
            images = [] if images is None else images if isinstance(images, list) else [images]
            data["images"] = [find_image(image_root, im) for im in images]
            for key in ("group", "question_id", "response_model", "model_a", "model_b"):
                if isinstance(data.get(key), (int, float)) and not isinstance(data.get(key), bool):
                    data[key] = str(data[key])
            if task == "pointwise" and isinstance(data.get("score"), str):
                try:
                    data["score"] = float(data["score"])
                except ValueError as exc:
                    raise RowError(f"score: not a number: {data['score']!r}") from exc
            if data.get(gold) is None:
                raise RowError(f"{columns.get(gold, gold)}: no gold label")
            return cls.model_validate({k: v for k, v in data.items() if v is not None})

        col.add(where, make, lookup(row, columns.get("id", "id")))
    return col.result

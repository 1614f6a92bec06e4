"""Any pairwise or pointwise JSON / JSONL file, through a column map.

``options``:

- ``task``: ``pairwise`` or ``pointwise``;
- ``columns``: item field → source key (dotted for nested objects, e.g. ``answer1.answer``); fields
  ``id``, ``question``, ``images`` (a path or a list), ``response`` or ``response_a`` / ``response_b``,
  ``label`` or ``score``, and optionally ``group``, ``question_id``, ``response_model``, ``model_a``,
  ``model_b``, ``reference``. An unmapped field is read from the key of its own name;
- ``label_map``: source value → ``A`` / ``B`` / ``tie`` (e.g. ``{model_a: A, model_b: B, C: tie}``).

>>> pick({"a": {"b": 3}}, "a.b"), pick({"x": 1}, "y")
(3, None)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from critic.evaluation.benchmarks import Collector, LoadResult, RowError, find_image
from critic.records import PairwiseItem, PointwiseItem

FIELDS = {
    "pairwise": ("id", "question", "images", "response_a", "response_b", "label", "group", "question_id", "model_a",
                 "model_b", "reference"),
    "pointwise": ("id", "question", "images", "response", "score", "group", "question_id", "response_model",
                  "reference"),
}


def pick(row: dict[str, Any], key: str) -> Any:
    cur: Any = row
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def load(path: Path, *, image_root: Path, options: dict[str, Any]) -> LoadResult:
    task = options.get("task", "pairwise")
    if task not in FIELDS:
        raise ValueError(f"generic: options.task must be pairwise or pointwise, got {task!r}")
    columns = {f: options.get("columns", {}).get(f, f) for f in FIELDS[task]}
    unknown = set(options.get("columns", {})) - set(FIELDS[task])
    if unknown:
        raise ValueError(f"generic: unknown item fields in options.columns: {sorted(unknown)}")
    label_map = {str(k): v for k, v in options.get("label_map", {}).items()}
    cls = PairwiseItem if task == "pairwise" else PointwiseItem
    col = Collector(path)
    for where, row in col.rows():

        def make(row: dict[str, Any] = row) -> PairwiseItem | PointwiseItem:
            data = {f: pick(row, src) for f, src in columns.items()}
            images = data.pop("images")
            images = [] if images is None else images if isinstance(images, list) else [images]
            data["images"] = [find_image(image_root, im) for im in images]
            for key in ("group", "question_id", "response_model", "model_a", "model_b"):
                if isinstance(data.get(key), (int, float)) and not isinstance(data.get(key), bool):
                    data[key] = str(data[key])
            if task == "pairwise" and data["label"] is not None:
                data["label"] = label_map.get(str(data["label"]), data["label"])
            if task == "pointwise" and isinstance(data["score"], str):
                try:
                    data["score"] = float(data["score"])
                except ValueError as exc:
                    raise RowError(f"score: not a number: {data['score']!r}") from exc
            if data.get("label" if task == "pairwise" else "score") is None:
                raise RowError(f"{columns['label' if task == 'pairwise' else 'score']}: no gold label")
            return cls.model_validate({k: v for k, v in data.items() if v is not None})

        col.add(where, make, pick(row, columns["id"]))
    return col.result

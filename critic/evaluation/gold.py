"""Gold labels for evaluation, read leniently from any JSONL with ``id`` and ``label`` or ``score``.

An items file qualifies (its ``question``, ``images``, responses... are ignored), and so does a bare
``{"id": ..., "label": "A"}`` file: unknown keys are allowed here, unlike the item records, because
gold files come from many places. ``label`` (``A`` / ``B`` / ``tie``) makes a pairwise gold,
``score`` a pointwise one; ``group``, ``question_id`` and ``response_model`` are optional.

>>> Gold.model_validate({"id": 7, "label": "tie", "question": "ignored"}).task
'pairwise'
>>> Gold.model_validate({"id": "s1", "score": "4", "response_model": "m"}).score
4.0
>>> Gold.model_validate({"id": "x", "label": "B", "score": 3})
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for Gold
  Value error, has both label and score; a gold is pairwise (label) or pointwise (score) [...]
    ...
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from critic.jsonl import JsonlReader, RecordError, RecordFileError
from critic.records import Winner


class Gold(BaseModel):
    """One gold label; extra keys are ignored."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    label: Winner | None = None
    score: float | None = None
    group: str | None = None
    question_id: str | None = None
    response_model: str | None = None
    # Read when present (an items file as gold) for the bias analyses: response lengths, models.
    response: Any = None
    response_a: Any = None
    response_b: Any = None
    model_a: str | None = None
    model_b: str | None = None

    @field_validator("id", "group", "question_id", "response_model", "model_a", "model_b", mode="before")
    @classmethod
    def _ints_as_str(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int) and not isinstance(v, bool) else v

    @field_validator("score", mode="before")
    @classmethod
    def _not_bool(cls, v: Any) -> Any:
        # JSON true / false are not scores (pydantic would read them as 1.0 / 0.0)
        if isinstance(v, bool):
            raise ValueError(f"score must be a number, got {str(v).lower()}")
        return v

    @field_validator("score")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("score must be a finite number")
        return v

    @model_validator(mode="after")
    def _one_kind(self) -> Gold:
        if self.label is not None and self.score is not None:
            raise ValueError("has both label and score; a gold is pairwise (label) or pointwise (score)")
        if self.label is None and self.score is None:
            raise ValueError("no gold: needs label (A/B/tie) or score")
        return self

    @property
    def task(self) -> Literal["pairwise", "pointwise"]:
        return "pairwise" if self.label is not None else "pointwise"


def read_gold(source: str | Path | Iterable[Any], *, strict: bool = False,
              scale: tuple[float, float] | None = None) -> tuple[list[Gold], list[RecordError]]:
    """Gold records from a JSONL path or from records / dicts; returns ``(golds, problems)``.

    A repeated id is a problem on its later line (the first one is kept); so is a score outside
    ``scale`` (``--gold-scale``), which is left out rather than measured against.

    >>> golds, problems = read_gold([{"id": "a", "score": 4}, {"id": "b", "score": 1e9}], scale=(1, 5))
    >>> [g.id for g in golds], [str(p) for p in problems]
    (['a'], ['<records>:2: score: 1e+09 is outside the gold scale 1–5'])
    """
    errors: list[RecordError] = []
    golds: list[Gold] = []
    if isinstance(source, (str, Path)):
        reader: JsonlReader[Gold] = JsonlReader(source, Gold, strict=strict, resolve_images=False)
        name = str(source)
        rows: Iterable[tuple[int, Gold]] = _with_lines(reader)
    else:
        reader = None  # type: ignore[assignment]
        name = "<records>"
        rows = _from_objects(source, errors)
    first_line: dict[str, int] = {}
    for line, g in rows:
        if scale is not None and g.score is not None and not scale[0] <= g.score <= scale[1]:
            err = RecordError(name, line, "score", f"{g.score:g} is outside the gold scale {scale[0]:g}–{scale[1]:g}")
            if strict:
                raise RecordFileError(err)
            errors.append(err)
            continue
        if g.id in first_line:
            err = RecordError(name, line, "id", f"duplicate id {g.id!r} (first at line {first_line[g.id]}); kept the first")
            if strict:
                raise RecordFileError(err)
            errors.append(err)
            continue
        first_line[g.id] = line
        golds.append(g)
    if reader is not None:
        errors = reader.errors + errors
    return golds, errors


def _with_lines(reader: JsonlReader[Gold]) -> Iterable[tuple[int, Gold]]:
    for g in reader:
        yield reader.n_lines, g


def _from_objects(objs: Iterable[Any], errors: list[RecordError]) -> Iterable[tuple[int, Gold]]:
    for n, obj in enumerate(objs, start=1):
        data = obj if isinstance(obj, dict) else obj.model_dump(mode="json")
        try:
            yield n, Gold.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                errors.append(RecordError("<records>", n, ".".join(map(str, err["loc"])) or "(record)", err["msg"]))


__all__ = ["Gold", "read_gold"]

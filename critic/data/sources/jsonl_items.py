"""Source ``jsonl``: items in critic's own JSONL record format (:mod:`critic.records`).

Lines are read with :class:`critic.jsonl.JsonlReader`; each bad line becomes a
:class:`~critic.data.sources.SourceProblem` at its ``file:line``, in file order with the items.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from critic.data.recipe import JsonlSource, resolve_path
from critic.data.sources import (
    INVALID_FIELD,
    MALFORMED,
    MISSING_FIELD,
    NOT_JUDGEABLE,
    SourceEvent,
    SourceItem,
    SourceProblem,
)
from critic.jsonl import JsonlReader, RecordError, RecordFileError
from critic.records import CandidateSet, item_type_for


def _problem(err: RecordError) -> SourceProblem:
    where = f"{err.path}:{err.line}"
    if err.field in ("(json)", "(record)"):
        return SourceProblem(where, MALFORMED, err.problem)
    reason = MISSING_FIELD if err.problem == "Field required" else INVALID_FIELD
    return SourceProblem(where, reason, f"{err.field}: {err.problem}")


def read(cfg: JsonlSource, recipe_path: str | Path) -> Iterator[SourceEvent]:
    path = resolve_path(recipe_path, cfg.path)
    reader: JsonlReader[Any] = JsonlReader(path, item_type_for)
    seen_errors = 0
    seen_lines: set[int] = set()
    try:
        for item in reader:
            # errors collected before this item belong to earlier lines: report them first
            for err in reader.errors[seen_errors:]:
                if err.line not in seen_lines:  # one problem per line
                    seen_lines.add(err.line)
                    yield _problem(err)
            seen_errors = len(reader.errors)
            where = f"{path}:{reader.n_lines}"
            if isinstance(item, CandidateSet):
                yield SourceProblem(where, NOT_JUDGEABLE, "a candidate set (rank it with critic label-pairs)")
                continue
            yield SourceItem(item, where, gold_scale=cfg.gold_scale)
    except RecordFileError as exc:
        yield SourceProblem(f"{path}:0", MALFORMED, str(exc.error.problem))
        return
    for err in reader.errors[seen_errors:]:
        if err.line not in seen_lines:
            seen_lines.add(err.line)
            yield _problem(err)

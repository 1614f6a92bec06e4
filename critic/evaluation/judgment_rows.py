"""Any judge's verdicts, and gold from any file, for ``critic eval``.

``critic eval`` measures verdicts whoever wrote them. A judgments row needs only ``id`` and the
verdict (``winner`` A / B / tie, or ``score``), plus ``swapped`` where both orders were judged; the
provenance critic writes (``judge``, ``template``, ``template_hash``, ``sampling`` ...) is optional
and unknown keys are ignored. Files that name things otherwise are read with a column map
(``--map`` for the gold, ``--judgments-map`` for the verdicts, ``--label-map`` for both), from
JSONL, JSON or CSV (:func:`critic.rows.read_rows`).

>>> pick_judgment({"id": "1", "winner": "A", "annotator": "gpt4"}).model_validate(
...     {"id": "1", "winner": "A", "annotator": "gpt4"}).judge
'(not recorded)'
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ConfigDict

from critic.jsonl import RecordError
from critic.records import PairwiseJudgment, PointwiseJudgment
from critic.rows import ColumnError, map_columns, read_rows

NOT_RECORDED = "(not recorded)"
#: Judgment fields a ``--judgments-map`` may name.
JUDGMENT_FIELDS = ("id", "winner", "score", "swapped", "task", "rationale", "raw", "parse_error", "error", "judge",
                   "template", "template_hash")
#: Gold fields a ``--map`` may name for ``critic eval``.
GOLD_FIELDS = ("id", "label", "score", "group", "question_id", "response_model", "response", "response_a",
               "response_b", "model_a", "model_b")


class LoosePairwiseJudgment(PairwiseJudgment):
    """A pairwise verdict from any judge: provenance optional, unknown keys ignored."""

    model_config = ConfigDict(extra="ignore", validate_assignment=True)
    template: str = NOT_RECORDED
    template_hash: str = NOT_RECORDED
    judge: str = NOT_RECORDED


class LoosePointwiseJudgment(PointwiseJudgment):
    """A score from any judge: provenance optional, unknown keys ignored."""

    model_config = ConfigDict(extra="ignore", validate_assignment=True)
    template: str = NOT_RECORDED
    template_hash: str = NOT_RECORDED
    judge: str = NOT_RECORDED


def pick_judgment(data: dict[str, Any]) -> type[PairwiseJudgment] | type[PointwiseJudgment]:
    """The judgment type a row's keys describe (pairwise when it says so or has a ``winner``)."""
    return LoosePairwiseJudgment if data.get("task") == "pairwise" or "winner" in data else LoosePointwiseJudgment


def mapped_rows(path: str | Path, columns: Mapping[str, Any], label_map: Mapping[str, str] | None, *,
                fields: tuple[str, ...], label_field: str) -> tuple[list[dict[str, Any]], list[RecordError]]:
    """Each row of ``path`` as the fields ``columns`` maps (same-named columns for the rest).

    ``label_field`` (``label`` for gold, ``winner`` for judgments) is read through ``label_map``.
    """
    unknown = sorted(set(columns) - set(fields))
    if unknown:
        raise ValueError(f"--map: unknown field(s) {unknown}; known: {', '.join(fields)}")
    out: list[dict[str, Any]] = []
    errors: list[RecordError] = []
    for row in read_rows(path):
        if row.value is None:
            errors.append(RecordError(row.path, row.line, "(record)", row.problem or "unreadable"))
            continue
        try:
            data = map_columns(row.value, columns, None, fields=fields)
        except ColumnError as exc:
            errors.append(RecordError(row.path, row.line, "(record)", str(exc)))
            continue
        value = data.get(label_field)
        if value is not None:
            text = str(value)
            data[label_field] = (label_map or {}).get(text, text)
        data = {k: v for k, v in data.items() if v is not None and v != ""}
        if isinstance(data.get("swapped"), str):
            data["swapped"] = data["swapped"].strip().lower() in ("true", "1", "yes")
        out.append(data)
    return out, errors


__all__ = ["GOLD_FIELDS", "JUDGMENT_FIELDS", "NOT_RECORDED", "LoosePairwiseJudgment", "LoosePointwiseJudgment",
           "mapped_rows", "pick_judgment"]

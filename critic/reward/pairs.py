"""Preference pairs for reward models: one prompt (images + question), a chosen and a rejected answer.

``critic data build`` writes them (``layout: pairs``), the toy world makes them directly
(:mod:`critic.toy.pairs`), and reward-model training reads them. For ``critique_score`` training
each answer carries the teacher's critique of it (``chosen_critique`` / ``rejected_critique``).

>>> from critic.records import PairwiseItem
>>> it = PairwiseItem(id="p", question="q?", response_a="x", response_b="y", label="B")
>>> pair_from_item(it).chosen
'y'
>>> pair_from_item(it.model_copy(update={"label": "tie"})) is None
True
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from critic.records import PairwiseItem, Record


class PreferencePair(Record):
    """One row of a reward-model training file."""

    id: str = Field(min_length=1)
    images: list[str] = Field(default_factory=list)
    question: str
    chosen: str
    rejected: str
    chosen_critique: str | None = None
    rejected_critique: str | None = None
    source: str | None = None
    meta: dict[str, Any] | None = None


def pair_from_item(item: PairwiseItem, **extra: Any) -> PreferencePair | None:
    """The pair a labelled pairwise item holds (None for a tie or an unlabelled item)."""
    if item.label not in ("A", "B"):
        return None
    a, b = item.response_a, item.response_b
    chosen, rejected = (a, b) if item.label == "A" else (b, a)
    return PreferencePair(id=item.id, images=list(item.images), question=item.question, chosen=chosen,
                          rejected=rejected, meta=item.meta, **extra)


def read_pairs(path: str | Path) -> list[PreferencePair]:
    """Pairs of a JSONL file, through critic's JSONL reader in strict mode (the first bad line stops
    with ``file:line: field: problem``); image paths are resolved against the file's folder."""
    from critic.jsonl import read_records

    if not Path(path).is_file():
        raise FileNotFoundError(path)
    pairs, _ = read_records(path, PreferencePair, strict=True)
    return pairs

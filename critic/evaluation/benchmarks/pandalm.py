"""PandaLM test set (Wang et al. 2023, arXiv:2306.05087): 999 text-only pairs, three human annotators.

Reads ``testset-v1.json`` (a JSON array): ``idx``, ``instruction``, ``input``, ``response1``,
``response2``, ``cmp_key`` (``modelA_modelB``), ``motivation_app`` and ``annotator1..3`` with
``0`` = tie, ``1`` = response1 better, ``2`` = response2 better. The gold label is the majority of
the three annotators; a row where all three differ has no majority and is skipped. The question is
the instruction followed by the input when there is one. ``options.group_by`` may name a column to
group by (``motivation_app`` or ``cmp_key``); by default there are no groups.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from critic.evaluation.benchmarks import Collector, LoadResult, RowError, require
from critic.records import PairwiseItem

VOTES = {0: "tie", 1: "A", 2: "B"}


def majority(votes: list[int]) -> str:
    """The majority label of annotator votes.

    >>> majority([2, 2, 0]), majority([0, 1, 0])
    ('B', 'tie')
    """
    if any(v not in VOTES for v in votes):
        raise RowError(f"annotators: votes must be 0, 1 or 2, got {votes}")
    top, n = Counter(votes).most_common(1)[0]
    if n * 2 <= len(votes):
        raise RowError(f"annotators: no majority in {votes}")
    return VOTES[top]


def load(path: Path, *, image_root: Path, options: dict[str, Any]) -> LoadResult:
    group_by = options.get("group_by")
    col = Collector(path)
    for where, row in col.rows():

        def make(row: dict[str, Any] = row) -> PairwiseItem:
            votes = [require(row, f"annotator{k}", int) for k in (1, 2, 3)]
            instruction, extra = require(row, "instruction"), row.get("input") or ""
            models = str(row.get("cmp_key", "")).split("_", 1)
            return PairwiseItem(
                id=require(row, "idx", (str, int)), question=f"{instruction}\n\n{extra}" if extra else instruction,
                response_a=require(row, "response1"), response_b=require(row, "response2"), label=majority(votes),
                model_a=models[0] or None, model_b=models[1] if len(models) > 1 else None,
                group=str(row[group_by]) if group_by and row.get(group_by) is not None else None,
            )

        col.add(where, make, row.get("idx"))
    return col.result

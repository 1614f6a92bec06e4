"""VL-RewardBench (Li et al. 2024, arXiv:2411.17451): 1,250 image + query pairs with human preferences.

Reads the ``data/data.jsonl`` layout of the benchmark's GitHub repository: ``id``, ``query``,
``response`` (two strings), ``human_ranking`` (``[0, 1]``: the first response is preferred,
``[1, 0]``: the second; lower rank is better), ``image_path`` (relative to the data folder, e.g.
``images/rlaif-v/RLAIF-V-14.jpg``), ``models``, ``query_source``. The group is the benchmark's
three-way split, read from the image sub-folder as the official ``cal.py`` does: ``vlfeedback`` and
``wildvision-battle`` → general, ``povid`` / ``rlaif-v`` / ``rlhf-v`` → hallucination,
``reasoning_tasks`` → reasoning (an unknown folder falls back on the id prefix). The headline
numbers are overall accuracy and the macro average over the three groups.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from critic.evaluation.benchmarks import Collector, LoadResult, RowError, find_image, require
from critic.records import PairwiseItem

SUBSET_GROUP = {
    "vlfeedback": "general", "wildvision-battle": "general", "povid": "hallucination", "rlaif-v": "hallucination",
    "rlhf-v": "hallucination", "reasoning_tasks": "reasoning",
}
ID_PREFIX_SUBSET = (("RLAIF", "rlaif-v"), ("RLHF", "rlhf-v"), ("mathverse", "reasoning_tasks"),
                    ("mmmu", "reasoning_tasks"), ("wildvision", "wildvision-battle"), ("hallucination", "povid"))


def subset_of(row: dict[str, Any]) -> str:
    """The benchmark subset of a row: the image sub-folder, else guessed from the id.

    >>> subset_of({"image_path": "images/povid/x.jpg"}), subset_of({"id": "mathverse_12", "image_path": "x.png"})
    ('povid', 'reasoning_tasks')
    """
    parts = Path(str(row.get("image_path", ""))).parts
    if len(parts) >= 3 and parts[1] in SUBSET_GROUP:
        return parts[1]
    rid = str(row.get("id", ""))
    return next((s for p, s in ID_PREFIX_SUBSET if rid.startswith(p)), "vlfeedback")


def _label(ranking: Any) -> str:
    if not (isinstance(ranking, list) and len(ranking) == 2 and all(isinstance(r, (int, float)) for r in ranking)):
        raise RowError(f"human_ranking: expected two numbers, got {ranking!r}")
    return "A" if ranking[0] < ranking[1] else "B" if ranking[1] < ranking[0] else "tie"


def load(path: Path, *, image_root: Path, options: dict[str, Any]) -> LoadResult:
    groups = {**SUBSET_GROUP, **options.get("subset_groups", {})}
    col = Collector(path)
    for where, row in col.rows():
        rid = row.get("id")

        def make(row: dict[str, Any] = row) -> PairwiseItem:
            responses = require(row, "response", list)
            if len(responses) != 2 or not all(isinstance(r, str) for r in responses):
                raise RowError("response: expected a list of two strings")
            models = row.get("models") if isinstance(row.get("models"), list) else [None, None]
            subset = subset_of(row)
            return PairwiseItem(
                id=require(row, "id", (str, int)), question=require(row, "query"),
                images=[find_image(image_root, require(row, "image_path"))],
                response_a=responses[0], response_b=responses[1], label=_label(row.get("human_ranking")),
                group=groups.get(subset, subset), model_a=models[0], model_b=models[1] if len(models) > 1 else None,
                meta={"subset": subset, "query_source": row.get("query_source")},
            )

        col.add(where, make, rid)
    return col.result

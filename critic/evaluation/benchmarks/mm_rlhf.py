"""MM-RLHF reward bench (Zhang et al. 2025, arXiv:2502.10391): chosen / rejected pairs, ACC and ACC+.

Reads ``mm_reward_bench.jsonl`` of the ``yifanzhang114/MM-RLHF-RewardBench`` dataset: ``id`` (shared
by the pairs of one question), ``image`` (or ``video``), ``prompt``, ``chosen``, ``rejected`` (and
``chosen_reason`` / ``rejected_reason``, unused). Each row becomes a pair whose order is decided by a
reproducible coin per row, so the chosen answer is A about half the time (the gold label says
which). ``question_id`` is the row's ``id``, so the report's ``accuracy_plus`` is the benchmark's
ACC+ (a question counts only when all its pairs are right) and ``accuracy_with_ties`` its ACC
(there are no gold ties). The group is the category found in the image path (``mcq``, ``long``,
``short``, ``safety``), as the benchmark's scoring script does; video rows are skipped (critic
judges images).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from critic.evaluation.benchmarks import Collector, LoadResult, RowError, coin, find_image, require
from critic.records import PairwiseItem

CATEGORIES = ("mcq", "long", "short", "safety", "video")


def load(path: Path, *, image_root: Path, options: dict[str, Any]) -> LoadResult:
    categories = tuple(options.get("categories", CATEGORIES))
    seed = int(options.get("seed", 0))
    col = Collector(path)
    seen: dict[str, int] = {}
    for where, row in col.rows():
        qid = str(row.get("id"))
        k = seen[qid] = seen.get(qid, -1) + 1

        def make(row: dict[str, Any] = row, qid: str = qid, k: int = k) -> PairwiseItem:
            if row.get("video") and not row.get("image"):
                raise RowError("video: video items are not supported; skipped")
            image = require(row, "image")
            chosen, rejected = require(row, "chosen"), require(row, "rejected")
            item_id = f"{qid}-{k}"
            chosen_first = coin(item_id, seed)
            return PairwiseItem(
                id=item_id, question=require(row, "prompt"), images=[find_image(image_root, image)],
                response_a=chosen if chosen_first else rejected, response_b=rejected if chosen_first else chosen,
                label="A" if chosen_first else "B", question_id=qid,
                group=next((c for c in categories if c in image), "other"),
            )

        col.add(where, make, f"{qid}-{k}")
    return col.result

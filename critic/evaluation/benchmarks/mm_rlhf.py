"""MM-RLHF reward bench (Zhang et al. 2025, arXiv:2502.10391): chosen / rejected pairs, ACC and ACC+.

Reads ``mm_reward_bench.jsonl`` of the ``yifanzhang114/MM-RLHF-RewardBench`` dataset: ``id`` (shared
by the pairs of one question), ``image`` (or ``video``), ``prompt``, ``chosen``, ``rejected`` (and
``chosen_reason`` / ``rejected_reason``, unused). Each row becomes a pair whose order is decided by a
reproducible coin per row, so the chosen answer is A about half the time (the gold label says
which). ``question_id`` is the row's ``id``, so the report's ``accuracy_plus`` is the benchmark's
ACC+ (a question counts only when all its pairs are right) and ``accuracy_with_ties`` its ACC
(there are no gold ties). The group is the category found in the image path (``mcq``, ``long``,
``short``, ``safety``, ``video``), as the benchmark's scoring script does. A video row's clip (a
file or a folder of frames, under the image root) is the item's ``video``: the judge shows its
sampled frames (:mod:`critic.video`); a clip that is not there is that row's problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from critic.evaluation.benchmarks import Collector, LoadResult, RowError, coin, find_image, require
from critic.records import PairwiseItem


def find_video(root: Path, rel: str) -> str:
    """The absolute path of a clip (a video file or a folder of frames) under ``root``; missing: a :class:`RowError`."""
    p = Path(rel)
    p = p if p.is_absolute() else root / p
    if not p.exists():
        raise RowError(f"video not found: {p}")
    return str(p.resolve())

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
            video = row.get("video") if not row.get("image") else None
            media = str(video) if video else require(row, "image")
            images = [] if video else [find_image(image_root, media)]
            chosen, rejected = require(row, "chosen"), require(row, "rejected")
            item_id = f"{qid}-{k}"
            chosen_first = coin(item_id, seed)
            return PairwiseItem(
                id=item_id, question=require(row, "prompt"), images=images,
                video=find_video(image_root, media) if video else None,
                response_a=chosen if chosen_first else rejected, response_b=rejected if chosen_first else chosen,
                label="A" if chosen_first else "B", question_id=qid,
                group=next((c for c in categories if c in media), "video" if video else "other"),
            )

        col.add(where, make, f"{qid}-{k}")
    return col.result

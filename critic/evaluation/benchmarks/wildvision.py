"""WildVision Arena battles (Lu et al. 2024, arXiv:2406.11069): human votes between two VLM answers.

Reads battles exported as JSONL from the ``WildVision/wildvision-battle`` (``…-internal-data``,
config ``battle``) dataset: ``question_id``, ``model_a``, ``model_b``, ``conversation_a`` /
``conversation_b`` (lists of ``{"role", "content"}``), ``image`` (a path, or the ``{"path": …}`` an
HF Image column exports to), ``turn``, ``winner`` (``model_a``, ``model_b``, ``tie``,
``tie (bothbad)``), ``domain``. The first user turn is the question and the first assistant turn of
each conversation the response; battles with more than one turn are skipped (the vote is on the
whole conversation). Both kinds of tie are ties. ``options.group_by`` picks the group column
(default ``domain``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from critic.evaluation.benchmarks import Collector, LoadResult, RowError, find_image, require
from critic.records import PairwiseItem

WINNERS = {"model_a": "A", "model_b": "B", "tie": "tie", "tie (bothbad)": "tie"}


def _turns(conv: Any, key: str) -> tuple[str, str]:
    if not isinstance(conv, list):
        raise RowError(f"{key}: expected a list of turns")
    users = [t.get("content") for t in conv if isinstance(t, dict) and t.get("role") == "user"]
    bots = [t.get("content") for t in conv if isinstance(t, dict) and t.get("role") == "assistant"]
    if len(users) != 1 or len(bots) != 1:
        raise RowError(f"{key}: {len(users)} user turns; only single-turn battles are judged")
    if not isinstance(users[0], str) or not isinstance(bots[0], str):
        raise RowError(f"{key}: turn content must be text")
    return users[0], bots[0]


def load(path: Path, *, image_root: Path, options: dict[str, Any]) -> LoadResult:
    group_by = options.get("group_by", "domain")
    col = Collector(path)
    for where, row in col.rows():
        qid = row.get("question_id")

        def make(row: dict[str, Any] = row) -> PairwiseItem:
            if row.get("turn", 1) not in (1, None):
                raise RowError(f"turn: {row['turn']} turns; only single-turn battles are judged")
            question, a = _turns(row.get("conversation_a"), "conversation_a")
            _, b = _turns(row.get("conversation_b"), "conversation_b")
            winner = str(require(row, "winner")).strip()
            if winner not in WINNERS:
                raise RowError(f"winner: expected one of {sorted(WINNERS)}, got {winner!r}")
            image = row.get("image", row.get("image_path"))
            group = row.get(group_by) if group_by else None
            return PairwiseItem(
                id=require(row, "question_id", (str, int)), question=question, images=[find_image(image_root, image)],
                response_a=a, response_b=b, label=WINNERS[winner], model_a=row.get("model_a"),
                model_b=row.get("model_b"), group=None if group is None else str(group),
                meta={"judge": row.get("judge"), "language": row.get("language")},
            )

        col.add(where, make, qid)
    return col.result

"""MLLM-as-a-Judge (Chen et al. 2024, arXiv:2402.04788): score, pair and batch settings.

Reads the JSONL files of the benchmark's repository (``Dataset/Benchmark/{score,pair,batch}.jsonl``
and the ``Benchmark_Lite`` files); ``options.mode`` picks the setting:

- ``score``: ``score_id``, ``id``, ``instruction``, ``image_path``, ``name`` (the answering model),
  ``answer``, ``human`` (1–5, sometimes a string) → pointwise items (``response_model`` = ``name``);
- ``pair``: ``pair_id``, ``id``, ``instruction``, ``image_path``, ``answer1`` / ``answer2``
  (``{"name", "answer"}``), ``human_answer`` ``A`` / ``B`` / ``C`` (``C`` is a tie) → pairwise items;
- ``batch``: ``id``, ``instruction``, ``image_path``, ``answers`` (a list of ``{"name", "answer"}``),
  ``human_answer`` the human order best first as letters (``"CDAB"``: the third answer is best) →
  one pointwise item per answer sharing ``question_id`` = ``id``, gold score ``K − position`` (best
  = ``K``). The report's ``ranking_edit_distance`` then scores the judge's order against the human
  one by normalised Levenshtein distance, the paper's batch-ranking metric.

Groups are ``original_dataset``. ``image_path`` is looked up under the image root (the folder of
the data file unless ``--image-root`` says otherwise).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from critic.evaluation.benchmarks import Collector, LoadResult, RowError, find_image, require
from critic.records import PairwiseItem, PointwiseItem

PAIR_LABELS = {"A": "A", "B": "B", "C": "tie"}


def _answer(row: dict[str, Any], key: str) -> tuple[str, str | None]:
    ans = require(row, key, dict)
    if not isinstance(ans.get("answer"), str):
        raise RowError(f"{key}.answer: missing")
    return ans["answer"], ans.get("name")


def _score(row: dict[str, Any], root: Path) -> PointwiseItem:
    try:
        human = float(require(row, "human", (int, float, str)))
    except ValueError as exc:
        raise RowError(f"human: not a number: {row['human']!r}") from exc
    return PointwiseItem(
        id=str(require(row, "score_id", (str, int))), question=require(row, "instruction"), response=require(row, "answer"),
        images=[find_image(root, require(row, "image_path"))], score=human, response_model=row.get("name"),
        group=row.get("original_dataset"), meta={"question": row.get("id")},
    )


def _pair(row: dict[str, Any], root: Path) -> PairwiseItem:
    (a, ma), (b, mb) = _answer(row, "answer1"), _answer(row, "answer2")
    human = str(require(row, "human_answer", str)).strip().upper()
    if human not in PAIR_LABELS:
        raise RowError(f"human_answer: expected A, B or C, got {row['human_answer']!r}")
    qid = row.get("id")
    return PairwiseItem(
        id=str(require(row, "pair_id", (str, int))), question=require(row, "instruction"),
        images=[find_image(root, require(row, "image_path"))], response_a=a, response_b=b, label=PAIR_LABELS[human],
        model_a=ma, model_b=mb, group=row.get("original_dataset"), question_id=None if qid is None else str(qid),
    )


def _batch(row: dict[str, Any], root: Path) -> list[PointwiseItem]:
    answers = require(row, "answers", list)
    letters = [chr(ord("A") + k) for k in range(len(answers))]
    order = str(require(row, "human_answer", str)).strip().upper()
    if sorted(order) != letters:
        raise RowError(f"human_answer: {order!r} is not an order of the letters {''.join(letters)}")
    qid = str(require(row, "id", (str, int)))
    image = find_image(root, require(row, "image_path"))
    items = []
    for k, (letter, ans) in enumerate(zip(letters, answers)):
        if not isinstance(ans, dict) or not isinstance(ans.get("answer"), str):
            raise RowError(f"answers[{k}].answer: missing")
        items.append(PointwiseItem(
            id=f"{qid}-{letter}", question=require(row, "instruction"), response=ans["answer"], images=[image],
            score=float(len(letters) - order.index(letter)), response_model=ans.get("name"),
            group=row.get("original_dataset"), question_id=qid, meta={"letter": letter, "human_order": order},
        ))
    return items


MODES = {"score": _score, "pair": _pair, "batch": _batch}


def load(path: Path, *, image_root: Path, options: dict[str, Any]) -> LoadResult:
    mode = options.get("mode", "pair")
    if mode not in MODES:
        raise ValueError(f"mllm_judge: options.mode must be one of {sorted(MODES)}, got {mode!r}")
    build = MODES[mode]
    col = Collector(path)
    for where, row in col.rows():
        col.add(where, lambda row=row: build(row, image_root), row.get("pair_id", row.get("score_id", row.get("id"))))
    return col.result

"""Judging held-out items with a saved checkpoint and scoring the judgments against gold.

This is the real path a user takes — ``Critic.from_pretrained(checkpoint)`` with the templates
recorded in its ``critic.json`` — so a passing number here means the checkpoint judges correctly
on its own. The metrics are :func:`critic.evaluation.evaluate.evaluate`'s (the ``critic eval`` numbers); the
headline ones are returned flat:

- pairwise: ``accuracy_without_ties`` (items whose gold is not a tie; a judged tie is wrong),
  ``accuracy_with_ties``, ``pairwise_parse_failure_rate``;
- pointwise: ``pearson``, ``spearman`` with the gold scores (parsed judgments),
  ``pointwise_parse_failure_rate``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from critic.records import PairwiseItem, PointwiseItem

HEADLINE = {"pairwise": ("accuracy_without_ties", "accuracy_with_ties", "parse_failure_rate"),
            "pointwise": ("pearson", "spearman", "parse_failure_rate")}


def score_judgments(items: list[Any], judgments: list[Any], *, n_resamples: int = 200) -> dict[str, Any]:
    """Headline metrics of ``judgments`` against the items' gold labels / scores."""
    from critic.evaluation.evaluate import evaluate

    report = evaluate(items, judgments, n_resamples=n_resamples)
    out: dict[str, Any] = {"n_judgments": len(judgments)}
    for task in ("pairwise", "pointwise"):
        section = getattr(report, task)
        if section is None:
            continue
        for name in HEADLINE[task]:
            est = section.metrics.get(name)
            value = None if est is None else est.value
            key = f"{task}_{name}" if name == "parse_failure_rate" else name
            out[key] = round(value, 4) if isinstance(value, float) else value
    return out


def evaluate_checkpoint(checkpoint: str | Path, items_path: str | Path, *, max_items: int = 200, swap: str = "none",
                        max_new_tokens: int = 64, batch_size: int = 32) -> dict[str, Any]:
    """Judge up to ``max_items`` items of ``items_path`` with ``checkpoint`` and score them."""
    from critic.jsonl import read_items
    from critic.judging.backends.base import SamplingParams
    from critic.judging.critic import Critic

    items, _ = read_items(items_path)
    items = [it for it in items if isinstance(it, PointwiseItem | PairwiseItem)][:max_items]
    critic = Critic.from_pretrained(checkpoint, batch_size=batch_size, progress=False,
                                    sampling=SamplingParams(max_new_tokens=max_new_tokens))
    judgments = list(critic.judge_stream(items, swap=swap))
    return score_judgments(items, judgments)

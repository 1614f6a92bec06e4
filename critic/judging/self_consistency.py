"""Self-consistency (``--n-samples K``): K sampled judgments of one item in one order become one.

* **Pairwise**: the verdict is the majority winner of the samples that parsed (a tie in the count goes
  to the winner sampled first); ``sample_agreement = #{samples with the majority winner} / #parsed``.
* **Pointwise**: the score is the mean ``(1/K') Σ s_k`` over the K' samples that parsed;
  ``sample_agreement`` is the share of them equal to the most common score.

The judgment kept is the first sample that gave the majority verdict (its rationale and raw text),
with the combined verdict, ``sample_verdicts`` (each sample's verdict in sample order, None where it did
not parse), the agreement, usage summed over the samples, and ``verdict_probs`` averaged over the
samples that carry them. When no sample parsed, the first sample is returned as it is.

>>> from critic.records import PairwiseJudgment
>>> J = dict(id="x", template="t", template_hash="h", judge="j")
>>> js = [PairwiseJudgment(winner=w, **J) for w in ("A", "B", "A", "A", "tie")]
>>> c = combine(js)
>>> c.winner, c.sample_verdicts, c.sample_agreement
('A', ['A', 'B', 'A', 'A', 'tie'], 0.6)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from critic.records import Usage


def _verdict(j: Any) -> Any:
    if not j.ok:
        return None
    return j.score if getattr(j, "score", None) is not None and not hasattr(j, "winner") else j.winner


def combine(samples: Sequence[Any]) -> Any:
    """One judgment from K samples of the same item and order (see the module doc)."""
    verdicts = [_verdict(j) for j in samples]
    valid = [v for v in verdicts if v is not None]
    if not valid:
        return samples[0].model_copy(update={"sample_verdicts": verdicts, "sample_agreement": None})
    counts = Counter(valid)
    top = max(counts.values())
    majority = next(v for v in valid if counts[v] == top)  # first sampled among the most common
    base = next(j for j, v in zip(samples, verdicts) if v == majority)
    update: dict[str, Any] = {"sample_verdicts": verdicts, "sample_agreement": round(top / len(valid), 6)}
    if hasattr(base, "winner"):
        update["winner"] = majority
    else:
        update["score"] = sum(valid) / len(valid)
    usages = [j.usage for j in samples if j.usage is not None]
    if usages:
        costs = [u.cost for u in usages if u.cost is not None]
        update["usage"] = Usage(prompt_tokens=sum(u.prompt_tokens for u in usages),
                                completion_tokens=sum(u.completion_tokens for u in usages),
                                cost=sum(costs) if costs else None)
    probs = [j.verdict_probs for j in samples if j.verdict_probs]
    if probs:
        keys = list(probs[0])
        update["verdict_probs"] = {k: round(sum(p.get(k, 0.0) for p in probs) / len(probs), 6) for k in keys}
        es = [j.expected_score for j in samples if j.expected_score is not None]
        if es:
            update["expected_score"] = round(sum(es) / len(es), 6)
    return base.model_copy(update=update)


__all__ = ["combine"]

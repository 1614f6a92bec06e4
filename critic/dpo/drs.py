"""Dynamic Reward Scaling (MM-RLHF's MM-DPO): a DPO β per pair, growing with the reward margin.

MM-RLHF (Zhang et al., 2025, arXiv 2502.10391) scales each pair's β by how confidently the reward
model separates chosen from rejected:

    β(δ) = β0 · (1 + w · (1 − e^(−k·δ)))

with ``δ = r(chosen) − r(rejected) ≥ 0`` the reward margin, ``β0`` the base β, ``w`` how far β may
grow (β ∈ [β0, β0·(1+w)) ) and ``k`` how fast it saturates. The pair's DPO loss then uses its own β:

    L = −log σ( β(δ) · [ (log πθ(y_w|x) − log π_ref(y_w|x)) − (log πθ(y_l|x) − log π_ref(y_l|x)) ] )

Implementation: the margins of ``critic label-pairs`` give each pair its β(δ) (a ``beta`` column of
the training set); :class:`critic.dpo.trainer.DRSDPOTrainer`, a TRL ``DPOTrainer`` subclass,
carries the column through the collator and evaluates TRL's own loss code with ``self.beta`` set
to the batch's β vector — every TRL loss that multiplies by β (sigmoid, hinge, IPO, robust,
bco_pair, ...) becomes per-pair, and MPO's mixture (``loss_type: [sigmoid, bco_pair, sft]``,
``loss_weights: [0.8, 0.2, 1.0]``) mixes the per-pair terms. The margin's scale depends on the
aggregation (``llava_ov`` margins of a K=5 choice-template tournament lie in (0, 16]); pick ``k``
for it (``k = 0.5``: β reaches 63 % of its growth at δ = 2). With ``drs.margin: expected_score`` δ is the
pair's expected margin instead (:func:`pair_margins`): each judgment weighted by its verdict
probabilities, so a pair the critic was unsure of gets a smaller β.

>>> round(drs_beta(0.0, 0.1, 0.5, 0.5), 6), round(drs_beta(2.0, 0.1, 0.5, 0.5), 6)
(0.1, 0.131606)
>>> drs_betas([0.0, 1e9], beta0=0.1, w=1.0, k=1.0)
[0.1, 0.2]
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def drs_beta(margin: float, beta0: float, w: float, k: float) -> float:
    """``β0 · (1 + w · (1 − exp(−k · margin)))``; a negative margin is an error (chosen must be better)."""
    if margin < 0:
        raise ValueError(f"the reward margin must be >= 0 (chosen better than rejected), got {margin}")
    return beta0 * (1.0 + w * (1.0 - math.exp(-k * margin)))


def drs_betas(margins: Sequence[float], *, beta0: float, w: float, k: float) -> list[float]:
    """:func:`drs_beta` of every margin."""
    return [drs_beta(float(m), beta0, w, k) for m in margins]


def pair_margins(rows: Sequence[dict], source: str = "reward") -> list[float]:
    """Each pair row's δ (clipped at 0): its ``margin`` (``source="reward"``) or its ``expected_margin``
    (``"expected_score"``: the chosen minus the rejected answer's expected reward, which ``label-pairs``
    writes when the critic judged with verdict probabilities). A row without it is an error naming it.

    >>> pair_margins([{"margin": 2.0, "expected_margin": 0.9}, {"margin": -0.0, "expected_margin": -0.1}], "expected_score")
    [0.9, 0.0]
    """
    key = {"reward": "margin", "expected_score": "expected_margin"}[source]
    out = []
    for row in rows:
        if row.get(key) is None:
            hint = " (label the pairs with the critic's verdict_probs: true)" if key == "expected_margin" else ""
            raise ValueError(f"pair {row.get('id')!r} has no {key}{hint}")
        out.append(max(0.0, float(row[key])))
    return out

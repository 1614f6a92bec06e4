"""The reward-model losses, by hand (each is one line of torch; no library needed).

Bradley–Terry (InternLM-XComposer2.5-Reward, OpenRLHF's ``PairWiseLoss``)::

    L_BT = mean_i −log σ(r_c,i − r_r,i)

Centring (MM-RLHF-Reward keeps rewards near 0 so they stay comparable across prompts)::

    L_centre = mean_i (r_c,i + r_r,i)²

Critique-then-score (MM-RLHF-Reward)::

    L = NLL(critique tokens) + L_BT + w_centre · L_centre        (w_centre = 0.01)

where NLL is the mean cross-entropy over the critique tokens only (labels −100 elsewhere).

GRM's regulariser (``reward.lm_weight``, either kind; Yang et al. 2024) adds the chosen answer as a
language-model target::

    L += lm_weight · NLL(chosen answer tokens)          (critique_nll on the response's labels)

A hand-worked batch: rewards (2, 0) and (0, 1). −log σ(2) = 0.1269, −log σ(−1) = 1.3133, mean 0.7201;
centring ((2+0)² + (0+1)²) / 2 = 2.5.

>>> import torch
>>> c, r = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 1.0])
>>> round(bradley_terry_loss(c, r).item(), 4)
0.7201
>>> round(centring_loss(c, r).item(), 4)
2.5
>>> round(critique_score_loss(c, r, torch.tensor(1.5), centre_weight=0.01).item(), 4)  # 1.5 + 0.7201 + 0.025
2.2451
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = -100


def bradley_terry_loss(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """``mean(−log σ(chosen − rejected))``, computed stably as ``softplus(rejected − chosen)``."""
    return F.softplus(rejected - chosen).mean()


def centring_loss(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """``mean((chosen + rejected)²)``: keeps the rewards of a pair centred on 0."""
    return ((chosen + rejected) ** 2).mean()


def critique_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over the positions whose label is not −100 (the critique tokens).

    ``logits[:, t]`` predicts ``labels[:, t + 1]`` (labels are aligned with ``input_ids``).
    """
    shift_logits = logits[:, :-1].reshape(-1, logits.shape[-1]).float()
    shift_labels = labels[:, 1:].reshape(-1)
    if not (shift_labels != IGNORE).any():
        return shift_logits.sum() * 0.0
    return F.cross_entropy(shift_logits, shift_labels, ignore_index=IGNORE)


def critique_score_loss(chosen: torch.Tensor, rejected: torch.Tensor, nll: torch.Tensor, *,
                        centre_weight: float = 0.01, nll_weight: float = 1.0) -> torch.Tensor:
    """``nll_weight · nll + L_BT + centre_weight · L_centre`` (MM-RLHF-Reward's objective)."""
    return nll_weight * nll + bradley_terry_loss(chosen, rejected) + centre_weight * centring_loss(chosen, rejected)

"""Reward heads: what reads one scalar from the hidden state at the last token.

- ``scalar`` (InternLM-XComposer2.5-Reward): ``r = w·h + b`` — one ``Linear(h, 1)`` in place of
  the LM head;
- ``critique_score`` (MM-RLHF-Reward): ``r = Linear(h,1)(dropout(tanh(Linear(h,h)(dropout(h)))))``.

>>> import torch
>>> head = make_head("scalar", 8)
>>> head(torch.zeros(3, 8)).shape
torch.Size([3])
>>> make_head("critique_score", 8, dropout=0.1)(torch.zeros(2, 8)).shape
torch.Size([2])
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from critic.reward.meta import KINDS

RewardKind = Literal["scalar", "critique_score"]


class ScalarHead(nn.Module):
    """``Linear(h, 1)``: the score head of a scalar reward model."""

    def __init__(self, hidden: int):
        super().__init__()
        self.score = nn.Linear(hidden, 1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.score(h).squeeze(-1)


class CritiqueHead(nn.Module):
    """MM-RLHF-Reward's head: dropout → Linear(h,h) → tanh → dropout → Linear(h,1)."""

    def __init__(self, hidden: int, dropout: float = 0.1):
        super().__init__()
        self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.Tanh(), nn.Dropout(dropout),
                                 nn.Linear(hidden, 1))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h).squeeze(-1)


def make_head(kind: str, hidden: int, *, dropout: float = 0.1) -> nn.Module:
    """The head of reward-model ``kind`` for hidden size ``hidden``."""
    if kind == "scalar":
        return ScalarHead(hidden)
    if kind == "critique_score":
        return CritiqueHead(hidden, dropout)
    raise ValueError(f"unknown reward kind {kind!r}; choose one of {', '.join(KINDS)}")

"""``run_training(cfg)``: the one entry of ``critic train``, by ``train.objective``.

``generative`` trains a LLaVA-Critic-style critic (:func:`critic.training.trainer.train`, unchanged);
``scalar`` and ``critique_score`` train reward models (:func:`critic.training.reward_trainer.train_reward`).
"""

from __future__ import annotations

from critic.training.config import TrainConfig
from critic.training.trainer import TrainResult, train


def run_training(cfg: TrainConfig, *, resume: bool = False) -> TrainResult:
    """Train what ``cfg.train.objective`` names; returns the :class:`TrainResult`."""
    if cfg.train.objective == "generative":
        return train(cfg, resume=resume)
    from critic.training.reward_trainer import train_reward

    return train_reward(cfg, resume=resume)

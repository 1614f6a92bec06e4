"""``run_training(cfg)``: the one entry of ``critic train``, by ``train.objective``.

``generative`` trains a LLaVA-Critic-style critic (:func:`critic.training.trainer.train`, unchanged);
``scalar`` and ``critique_score`` train reward models (:func:`critic.training.reward_trainer.train_reward`).
"""

from __future__ import annotations

from critic.training.config import TrainConfig
from critic.training.trainer import TrainResult, train


def run_training(cfg: TrainConfig, *, resume: bool = False) -> TrainResult:
    """Train what ``cfg.train.objective`` names; returns the :class:`TrainResult`."""
    try:
        if cfg.train.objective == "generative":
            return train(cfg, resume=resume)
        from critic.training.reward_trainer import train_reward

        return train_reward(cfg, resume=resume)
    finally:
        _close_process_group()


def _close_process_group() -> None:
    """Wait for every rank, then tear down the process group the Trainer started (multi-process runs).

    A rank that does not save finishes first; left to exit while rank 0 still writes the final model,
    its gloo threads can abort it ("terminate called without an active exception", exit -6) after a
    run that succeeded (seen in CI)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        try:
            dist.barrier()  # rank 0 may still be writing the final model: every rank leaves together
        finally:
            dist.destroy_process_group()

"""Stopping a diverged run: a non-finite loss or gradient ends training, and non-finite weights are never saved.

Trainer on its own keeps going when the loss turns NaN: its ``logging_nan_inf_filter`` logs the mean
of earlier losses instead, the optimizer writes NaN into the weights, and the run ends with "final
loss 0.0000", exit 0 and a checkpoint of NaNs. Here, before every optimizer step,
:class:`DivergenceGuard` checks the losses of the step's micro-batches and its gradients; if any is
NaN or infinite, it raises :class:`TrainingDiverged` naming the step, so that step is never applied.
The gradients are judged by the norm Trainer computes for clipping and logging anyway (a NaN or an
infinity in any gradient makes it non-finite); only where that norm is not available are the
gradient tensors checked one by one (that check was ~5 % of a tiny critic's CPU step).
:func:`nonfinite_weights` is checked before anything is saved, so no checkpoint holds a NaN.

With several processes the verdict is summed across them (one small all-reduce per step), so every
rank stops at the same step instead of one waiting forever for the others.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from transformers import TrainerCallback


class TrainingDiverged(RuntimeError):
    """The loss or the gradients stopped being finite numbers (the message names the step)."""


def nonfinite_weights(model: Any) -> list[str]:
    """Names of the parameters holding a NaN or an infinity (empty when every weight is finite)."""
    names = [n for n, p in model.named_parameters()]
    if not names:
        return []
    with torch.no_grad():
        ok = torch.stack([torch.isfinite(p.detach()).all() for _, p in model.named_parameters()]).cpu()
    return [n for n, good in zip(names, ok.tolist()) if not good]


def refuse_nonfinite(model: Any, step: int) -> None:
    """Raise :class:`TrainingDiverged` rather than save weights holding a NaN or an infinity."""
    bad = nonfinite_weights(model)
    if bad:
        raise TrainingDiverged(f"training diverged by step {step}: {len(bad)} weight tensor(s) are not finite "
                               f"({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''}); nothing was saved. "
                               "Lower train.learning_rate or check the data.")


def install_guard(trainer: Any) -> DivergenceGuard:
    """Add a :class:`DivergenceGuard` to ``trainer`` and feed it the loss of every micro-batch."""
    guard = DivergenceGuard()
    guard.trainer = trainer
    trainer.add_callback(guard)
    step = trainer.training_step

    def training_step(*args: Any, **kwargs: Any) -> torch.Tensor:
        loss = step(*args, **kwargs)
        guard.note_loss(loss)
        return loss

    trainer.training_step = training_step
    get_norm = getattr(trainer, "_get_grad_norm", None)  # Trainer's own (private) hook: its pre-clip norm
    if get_norm is not None:
        def _get_grad_norm(*args: Any, **kwargs: Any) -> Any:
            norm = get_norm(*args, **kwargs)
            guard.note_grad_norm(norm)
            return norm

        trainer._get_grad_norm = _get_grad_norm
    return guard


def _all_finite(tensors: list[torch.Tensor]) -> torch.Tensor:
    local = [t.to_local() if hasattr(t, "to_local") else t for t in tensors]  # FSDP keeps DTensor shards
    if not local:
        return torch.tensor(True)
    return torch.stack([torch.isfinite(t.detach()).all().to(local[0].device) for t in local]).all()


class DivergenceGuard(TrainerCallback):
    """Raises :class:`TrainingDiverged` before an optimizer step whose loss or gradients are not finite.

    :func:`install_guard` feeds it each micro-batch's loss (:meth:`note_loss`) and sets :attr:`trainer`,
    whose accelerator reduces the verdict across processes.
    """

    def __init__(self) -> None:
        self.losses: list[torch.Tensor] = []
        self.grad_norm: torch.Tensor | float | None = None
        self.trainer: Any = None
        self.last_saved: str | None = None

    def note_loss(self, loss: torch.Tensor) -> None:
        self.losses.append(loss.detach().reshape(()))

    def note_grad_norm(self, norm: torch.Tensor | float | None) -> None:
        """The step's gradient norm as Trainer computed it (before clipping)."""
        self.grad_norm = norm

    def on_save(self, args, state, control, **kw):
        self.last_saved = f"checkpoint-{state.global_step}"

    def on_pre_optimizer_step(self, args, state, control, model=None, **kw):
        losses, self.losses = self.losses, []
        norm, self.grad_norm = self.grad_norm, None
        device = losses[0].device if losses else torch.device("cpu")
        loss_ok = torch.isfinite(torch.stack(losses)).all() if losses else torch.tensor(True, device=device)
        if norm is not None:
            grad_ok = torch.isfinite(torch.as_tensor(norm)).to(device)
        else:
            grads = [p.grad for p in (model.parameters() if model is not None else ()) if p.grad is not None]
            grad_ok = _all_finite(grads).to(device)
        bad = torch.stack([~loss_ok, ~grad_ok]).float()
        if args.world_size > 1 and self.trainer is not None:
            bad = self.trainer.accelerator.reduce(bad, reduction="sum")
        bad_loss, bad_grad = (bool(x) for x in bad.cpu().tolist())
        if not (bad_loss or bad_grad):
            return
        step = state.global_step + 1
        what = []
        if bad_loss:
            values = sorted({f"{v:g}" for v in map(float, losses) if not math.isfinite(v)})
            what.append(f"the loss is {' / '.join(values)}" if values else "the loss is not finite on another process")
        if bad_grad:
            local = math.nan if norm is None else float(norm)  # None: the tensors were checked one by one
            what.append("the gradients are not finite" if norm is None or math.isfinite(local)
                        else f"the gradient norm is {local:g}")
        saved = (f"the last checkpoint, {self.last_saved}, was saved before it" if self.last_saved
                 else "no checkpoint was saved")
        raise TrainingDiverged(
            f"training diverged at step {step} of {state.max_steps}: {' and '.join(what)}. The step was not "
            f"applied and nothing after it is saved ({saved}). Lower train.learning_rate (now "
            f"{args.learning_rate:g}) or train.max_grad_norm, or check the data.")


__all__ = ["DivergenceGuard", "TrainingDiverged", "install_guard", "nonfinite_weights", "refuse_nonfinite"]

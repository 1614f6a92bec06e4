"""One round of DPO with TRL's ``DPOTrainer`` (``trl==1.16.0``), with an optional per-pair β (DRS).

:func:`dpo_trainer_class` returns ``DRSDPOTrainer``, a ``DPOTrainer`` subclass that reads an
optional ``beta`` column: the column survives TRL's column pruning (added to the signature
columns), the collator passes it through as a tensor, and ``_compute_loss`` runs TRL's own loss
with ``self.beta`` set to that tensor for the batch (see :mod:`critic.dpo.drs`). Without the
column it is TRL's trainer unchanged. TRL is imported only when these functions run.

:func:`train_round` trains one round from a policy checkpoint on a pairs file and saves the new
policy (model, processor, generation config) to ``out_dir/checkpoint``; an interrupted round
resumes from TRL's last ``checkpoint-N`` under ``out_dir/trainer``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

DONE_MARKER = "critic_round.json"


class BetaCollator:
    """Wraps a TRL collator: pops each example's ``beta`` and adds the batch's β as a float tensor."""

    def __init__(self, inner: Any):
        self.inner = inner

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        betas = [ex.pop("beta") for ex in examples] if examples and "beta" in examples[0] else None
        out = self.inner(examples)
        if betas is not None:
            out["beta"] = torch.tensor(betas, dtype=torch.float32)
        return out


def dpo_trainer_class():
    """``DRSDPOTrainer``: TRL's DPOTrainer with a per-example β taken from a ``beta`` column."""
    import torch
    from trl import DPOTrainer

    class DRSDPOTrainer(DPOTrainer):
        def __init__(self, *args: Any, **kwargs: Any):
            super().__init__(*args, **kwargs)
            self.data_collator = BetaCollator(self.data_collator)

        def _set_signature_columns_if_needed(self) -> None:
            super()._set_signature_columns_if_needed()
            if "beta" not in self._signature_columns:
                self._signature_columns = [*self._signature_columns, "beta"]

        def _compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool):
            beta = inputs.pop("beta", None)
            if beta is None:
                return super()._compute_loss(model, inputs, return_outputs)
            base = self.beta
            self.beta = beta.to(device=self.accelerator.device, dtype=torch.float32)
            try:
                return super()._compute_loss(model, inputs, return_outputs)
            finally:
                self.beta = base

    return DRSDPOTrainer


def dpo_args(cfg: Any, output_dir: Path, *, seed: int, use_cpu: bool | None = None):
    """TRL ``DPOConfig`` from the ``dpo`` section of a run config."""
    import torch
    from trl import DPOConfig

    cuda = torch.cuda.is_available() if use_cpu is None else not use_cpu
    bf16 = cfg.bf16 if cfg.bf16 is not None else (cuda and torch.cuda.is_bf16_supported())
    kwargs: dict[str, Any] = dict(
        output_dir=str(output_dir), num_train_epochs=cfg.epochs, max_steps=cfg.max_steps, learning_rate=cfg.learning_rate,
        per_device_train_batch_size=cfg.batch_size, gradient_accumulation_steps=cfg.grad_accum, beta=cfg.beta,
        loss_type=list(cfg.loss_type), loss_weights=cfg.loss_weights, max_length=cfg.max_length,
        lr_scheduler_type=cfg.lr_scheduler, warmup_steps=cfg.warmup_ratio, bf16=bf16,  # a float < 1 is a ratio
        gradient_checkpointing=cfg.gradient_checkpointing, logging_steps=cfg.logging_steps, save_steps=cfg.save_steps,
        save_strategy="steps", save_total_limit=1, report_to=list(cfg.report_to), seed=seed, use_cpu=not cuda, disable_tqdm=True,
        dataloader_num_workers=0,
    )
    kwargs.update(cfg.extra)
    return DPOConfig(**kwargs)


def last_trainer_checkpoint(trainer_dir: Path) -> str | None:
    ckpts = sorted(trainer_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]) if p.name.split("-")[-1].isdigit() else -1)
    return str(ckpts[-1]) if ckpts else None


def round_done(out_dir: Path) -> dict[str, Any] | None:
    marker = Path(out_dir) / "checkpoint" / DONE_MARKER
    return json.loads(marker.read_text()) if marker.is_file() else None


def train_round(policy: str | Path, pairs_path: Path, out_dir: Path, cfg: Any, *, seed: int = 0,
                dtype: str = "auto", trust_remote_code: bool = False, betas: list[float] | None = None,
                log: Any = print) -> dict[str, Any]:
    """Train one DPO round; returns the round's training record (also saved next to the checkpoint)."""
    from critic.dpo.pairs import load_pairs
    from critic.models.loading import load_model, load_processor

    done = round_done(out_dir)
    if done is not None:
        return done
    t0 = time.perf_counter()
    dataset = load_pairs(pairs_path, beta=betas)
    model = load_model(policy, dtype=dtype, trust_remote_code=trust_remote_code)
    model.train()
    processor = load_processor(policy, trust_remote_code=trust_remote_code)
    args = dpo_args(cfg, out_dir / "trainer", seed=seed)
    trainer = dpo_trainer_class()(model=model, args=args, train_dataset=dataset, processing_class=processor)
    result = trainer.train(resume_from_checkpoint=last_trainer_checkpoint(out_dir / "trainer"))
    ckpt = out_dir / "checkpoint"
    trainer.save_model(str(ckpt))  # every process takes part (sharded / ZeRO-3 states); the main one writes
    main = trainer.accelerator.is_main_process
    if main:
        processor.save_pretrained(str(ckpt))
        model.generation_config.save_pretrained(str(ckpt))
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    record = {"policy": str(policy), "pairs": len(dataset), "steps": trainer.state.global_step,
              "train_loss": result.training_loss, "first_loss": losses[0] if losses else None,
              "last_loss": losses[-1] if losses else None, "per_pair_beta": betas is not None,
              "loss_type": list(cfg.loss_type), "loss_weights": cfg.loss_weights, "beta": cfg.beta,
              "wall_s": round(time.perf_counter() - t0, 2)}
    if main:
        (ckpt / DONE_MARKER).write_text(json.dumps(record, indent=2) + "\n")
    trainer.accelerator.wait_for_everyone()
    log(f"  trained on {len(dataset)} pairs: {trainer.state.global_step} steps, loss {result.training_loss:.4f}")
    return record

"""Reward-model training on transformers' Trainer: ``train.objective: scalar | critique_score``.

The backbone comes from the same config as a generative critic (``model``: checkpoint or tiny spec,
freeze options, LoRA, gradient checkpointing) and gets a head (:class:`~critic.reward.model.RewardNet`).
Trainer brings ZeRO-2/3, bf16, DDP, rotation and resume; the loss, written by hand
(:mod:`critic.reward.losses`), is Bradley–Terry for ``scalar`` (+ ``reward.centre_weight``·centring)
(+ ``reward.lm_weight``·NLL of the chosen response: GRM's SFT regulariser, Yang et al. 2024) and
critique NLL + Bradley–Terry + 0.01·centring for ``critique_score``. Checkpoints hold the
backbone (safetensors), ``reward_head.safetensors``, the processor, and ``critic.json`` with
``kind`` and ``reward`` (head settings; the reward mean / std over ``reward.stats_samples`` training
responses, for normalising).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
from transformers import PrinterCallback, Trainer
from transformers import ProgressCallback as HFProgress

from critic import __version__
from critic.reward.encode import RewardEncoder, end_of_turn_ids
from critic.reward.losses import bradley_terry_loss, centring_loss
from critic.reward.meta import CRITIC_META
from critic.reward.model import RewardNet
from critic.training.callbacks import ProgressCallback
from critic.training.config import TrainConfig
from critic.training.divergence import install_guard, refuse_nonfinite
from critic.training.model_setup import prepare_model
from critic.training.reward_data import PairCollator, PairData, load_pairs
from critic.training.sampler import accumulation_steps
from critic.training.schedule import DecayRatioSchedule
from critic.training.trainer import TrainError, TrainResult, _say, start_run, training_arguments


def centre_weight(cfg: TrainConfig) -> float:
    w = cfg.reward.centre_weight
    return w if w is not None else (0.01 if cfg.train.objective == "critique_score" else 0.0)


class RewardTrainer(DecayRatioSchedule, Trainer):
    """Trainer computing the reward-model loss on chosen / rejected rows; saves ``RewardNet`` checkpoints."""

    def __init__(self, *args: Any, cfg: TrainConfig, data: PairData, trained: dict[str, int], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.cfg = cfg
        self.decay_ratio = cfg.train.decay_ratio
        self.pair_data = data
        self.trained = trained
        self.reward_stats: dict[str, float] = {}
        self.model_accepts_loss_kwargs = False  # Trainer averages over accumulation steps itself
        self.remove_callback(PrinterCallback)
        self.remove_callback(HFProgress)
        install_guard(self)  # a NaN / inf loss or gradient stops the run at its step (issue 14.3)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        n = int(inputs.pop("n_pairs"))
        out = model(**inputs)
        r = out["rewards"]
        chosen, rejected = r[:n], r[n:]
        loss = bradley_terry_loss(chosen, rejected) + centre_weight(self.cfg) * centring_loss(chosen, rejected)
        if out["nll"] is not None:
            loss = loss + self.cfg.reward.critique_weight * out["nll"]
        if out["response_nll"] is not None:
            loss = loss + self.cfg.reward.lm_weight * out["response_nll"]
        return (loss, out) if return_outputs else loss

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        if self.is_deepspeed_enabled or self.is_fsdp_enabled:
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        net = self.accelerator.unwrap_model(model if model is not None else self.model)
        loaded = RewardNet.from_pretrained(resume_from_checkpoint, dtype=str(next(net.parameters()).dtype).split(".")[-1],
                                           device="cpu")
        base = net.backbone.get_base_model() if hasattr(net.backbone, "get_base_model") else net.backbone
        missing, unexpected = base.load_state_dict(loaded.backbone.state_dict(), strict=False)
        net.head.load_state_dict(loaded.head.state_dict())
        if unexpected:
            raise TrainError(f"{resume_from_checkpoint}: weights do not match the model (unexpected {unexpected[:3]})")

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        out = Path(output_dir or self.args.output_dir)
        net = self.accelerator.unwrap_model(self.model)
        refuse_nonfinite(net, self.state.global_step)
        if self.args.should_save:
            net.save_pretrained(out)
            self.processing_class.save_pretrained(out)
            write_reward_files(out, reward_metadata(self, net))


@torch.no_grad()
def reward_stats(net: RewardNet, collator: PairCollator, data: PairData, n: int) -> dict[str, float]:
    """Mean and standard deviation of the rewards of up to ``n`` training responses (chosen and rejected)."""
    was = net.training
    net.eval()
    device = next(net.parameters()).device
    values: list[float] = []
    for s in range(0, min(len(data), max(1, n // 2)), 8):
        batch = collator([data[i] for i in range(s, min(s + 8, len(data)))])
        batch.pop("n_pairs")
        batch.pop("labels", None)
        batch.pop("response_labels", None)
        batch = {k: v.to(device) for k, v in batch.items()}
        values += net(**batch)["rewards"].float().cpu().tolist()
    net.train(was)
    t = torch.tensor(values)
    return {"mean": float(t.mean()), "std": float(t.std()) if len(values) > 1 else 1.0}


def reward_metadata(t: RewardTrainer, net: RewardNet) -> dict[str, Any]:
    cfg = t.cfg
    losses = [h["loss"] for h in t.state.log_history if "loss" in h]
    base = cfg.model.name_or_path or f"tiny random {cfg.model.tiny.get('family', 'llava')} ({cfg.model.tiny})"  # type: ignore[union-attr]
    return {"format": 1, "critic_version": __version__, "kind": net.kind, "default_templates": {},
            "reward": {**net.head_settings(), **t.reward_stats, "centre_weight": centre_weight(cfg)},
            "base_model": base, "data": t.pair_data.to_dict(), "step": t.state.global_step,
            "max_steps": t.state.max_steps, "final_loss": losses[-1] if losses else None,
            "trained_parameters": t.trained, "train_config": cfg.to_dict()}


CARD = """# {name}

A **{kind}** reward model trained with [critic](https://github.com/) (`critic train`, objective `{kind}`).

- base model: {base_model}
- data: {pairs} preference pairs from `{path}`
- steps: {step} of {max_steps}; final loss {final_loss}
- reward on training responses: mean {mean}, std {std} (normalise with `(r - mean) / std`)

```python
from critic.reward import RewardModel
rm = RewardModel.from_pretrained("{path_out}")
rm.get_score(chat, images)
```
`critic judge --model {path_out} ...` takes it with no other argument.
"""


def write_reward_files(out: Path, meta: dict[str, Any]) -> None:
    """``critic.json`` (written atomically) and a model card ``README.md``."""
    tmp = out / (CRITIC_META + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(out / CRITIC_META)
    r = meta["reward"]
    (out / "README.md").write_text(CARD.format(
        name=out.name, kind=meta["kind"], base_model=meta["base_model"], pairs=meta["data"]["pairs"],
        path=meta["data"]["path"], step=meta["step"], max_steps=meta["max_steps"], final_loss=meta["final_loss"],
        mean=r.get("mean", "n/a"), std=r.get("std", "n/a"), path_out=str(out)), encoding="utf-8")


def build_reward_trainer(cfg: TrainConfig) -> tuple[RewardTrainer, dict[str, Any]]:
    """Everything :func:`train_reward` runs, without running it."""
    import os

    kind = cfg.train.objective
    world = int(os.environ.get("WORLD_SIZE", "1"))
    try:
        grad_accum = accumulation_steps(cfg.train.global_batch_size, cfg.train.per_device_batch_size, world)
    except ValueError as exc:
        raise TrainError(f"train: {exc}") from None
    args = training_arguments(cfg, grad_accum)
    args.per_device_train_batch_size = cfg.train.per_device_batch_size
    data = load_pairs(cfg.data.train, kind=kind)  # before the model: a file that cannot be trained on fails at once
    from critic.models.loading import ModelLoadError

    try:
        backbone, processor, trained = prepare_model(cfg.model)
    except ModelLoadError as exc:
        raise TrainError(f"model.name_or_path: {exc}") from None
    net = RewardNet(backbone, kind, dropout=cfg.reward.head_dropout)
    trained = {**trained, "reward_head": sum(p.numel() for p in net.head.parameters())}
    encoder = RewardEncoder(processor, end_of_turn_ids(processor, getattr(backbone, "generation_config", None)))
    collator = PairCollator(encoder, kind, image_ablation=cfg.data.image_ablation, cache=cfg.data.cache_encoded,
                            learn_chosen=cfg.reward.lm_weight > 0)
    trainer = RewardTrainer(model=net, args=args, train_dataset=data, data_collator=collator,
                            processing_class=processor, callbacks=[ProgressCallback(bar=cfg.train.progress)],
                            cfg=cfg, data=data, trained=trained)
    return trainer, {"grad_accum": grad_accum, "samples": len(data), "collator": collator, "world_size": args.world_size}


def train_reward(cfg: TrainConfig, *, resume: bool = False) -> TrainResult:
    """Train a reward model as ``cfg`` says (``train.objective`` scalar / critique_score)."""
    ckpt = start_run(cfg, resume)
    out = Path(cfg.train.output_dir)
    trainer, info = build_reward_trainer(cfg)
    out.mkdir(parents=True, exist_ok=True)  # start_run only probed it
    _say(f"training a {cfg.train.objective} reward model: {info['samples']} pairs, world size {info['world_size']}, "
         f"{info['grad_accum']} micro-batch(es) per rank per step" + (f"; resuming from {ckpt}" if ckpt else ""))
    t0 = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
    wall = time.perf_counter() - t0
    net = trainer.accelerator.unwrap_model(trainer.model)
    trainer.reward_stats = reward_stats(net, info["collator"], trainer.pair_data, cfg.reward.stats_samples)
    final = None
    if cfg.train.save_final:
        trainer.save_model(str(out))
        final = out
    trainer.save_state()
    losses = [(h["step"], h["loss"]) for h in trainer.state.log_history if "loss" in h]
    return TrainResult(output_dir=str(final) if final else None, global_step=trainer.state.global_step,
                       train_loss=result.training_loss, final_loss=losses[-1][1] if losses else None, losses=losses,
                       tokens_per_s=[], wall_s=wall, length_mismatches=0, trainer=trainer)  # type: ignore[arg-type]

"""Training on transformers' Trainer: the subclass, its arguments, and :func:`train`.

Trainer brings DeepSpeed ZeRO-2/3 (``train.deepspeed``: a JSON file, or ``zero2`` / ``zero3`` for
the shipped ones), bf16, gradient checkpointing, DDP (``torchrun`` / ``accelerate launch``),
checkpoint rotation and resume with optimizer, scheduler and RNG states, and any tracker transformers
supports (``train.report_to``); ``train.trainer_args`` sets any other TrainingArguments field.
critic adds:

- the step sampler (:mod:`critic.training.sampler`) and the collator (:mod:`critic.training.collate`);
- the loss (:func:`~critic.training.collate.critic_loss`): summed cross-entropy of the learned
  tokens over Trainer's ``num_items_in_batch`` — the learned tokens of the whole accumulated batch on
  all ranks — so accumulation and data parallelism give the same gradient as one large batch;
- tokens/s and packing efficiency in the logs, a progress bar, ``critic.json`` and a model card in
  every checkpoint, and resume from the last *complete* checkpoint.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import PrinterCallback, Trainer, TrainingArguments
from transformers import ProgressCallback as HFProgress

from critic.training.callbacks import EpochCallback, EvalCallback, ProgressCallback
from critic.training.checkpoint import (
    checkpoints,
    critic_metadata,
    last_complete_checkpoint,
    template_warnings,
    write_critic_files,
)
from critic.training.collate import STATS_KEY, Collator, RopeIndex, critic_loss
from critic.training.config import TrainConfig
from critic.training.data import TrainingData, index_training_file
from critic.training.divergence import install_guard, refuse_nonfinite
from critic.training.encode import SampleEncoder, eos_token_ids
from critic.training.model_setup import prepare_model
from critic.training.param_groups import split_param_groups
from critic.training.sampler import StepSampler, accumulation_steps
from critic.training.schedule import DecayRatioSchedule
from critic.training.trainer_args import TrainerArgsError, check_trackers, merge_trainer_args


class TrainError(RuntimeError):
    """Training cannot start (the message says what to change)."""


class CriticTrainer(DecayRatioSchedule, Trainer):
    """Trainer with critic's sampler, token statistics and checkpoint metadata."""

    def __init__(self, *args: Any, step_sampler: StepSampler,
                 metadata: Callable[[CriticTrainer, int], dict[str, Any]],
                 decay_ratio: float, group_lr: dict[str, float] | None = None, **kwargs: Any):
        self.group_lr = dict(group_lr or {})
        self.decay_ratio = decay_ratio
        super().__init__(*args, **kwargs)
        self.divergence = install_guard(self)  # a NaN / inf loss or gradient stops the run at its step
        self.step_sampler = step_sampler
        self._metadata = metadata
        self._stats = torch.zeros(3, dtype=torch.float64)
        self._stats_t0 = time.perf_counter()
        self.remove_callback(PrinterCallback)
        self.remove_callback(HFProgress)

    def create_optimizer(self, model: Any = None) -> Any:
        fresh = self.optimizer is None
        optimizer = super().create_optimizer(model)
        if fresh and self.group_lr:  # train.group_lr: one peak rate per model part
            split_param_groups(optimizer, self.model if model is None else model, self.group_lr)
        return optimizer

    def metadata(self, step: int) -> dict[str, Any]:
        """The ``critic.json`` content for a checkpoint at ``step``."""
        return self._metadata(self, step)

    def _get_train_sampler(self, train_dataset: Any = None) -> StepSampler:
        return self.step_sampler

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        stats = inputs.pop(STATS_KEY, None)
        if stats is not None and model.training:
            self._stats += stats.detach().to("cpu", torch.float64)
        return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                    num_items_in_batch=num_items_in_batch)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        if "loss" in logs and "train_runtime" not in logs:
            stats = self._stats.to(self.args.device)
            if self.args.world_size > 1:
                stats = self.accelerator.reduce(stats, reduction="sum")
            real, computed, samples = (float(x) for x in stats.cpu())
            elapsed = max(1e-9, time.perf_counter() - self._stats_t0)
            logs["tokens_per_s"] = round(real / elapsed, 1)
            logs["samples_per_s"] = round(samples / elapsed, 2)
            logs["packing_efficiency"] = round(real / computed, 4) if computed else 0.0
            self._stats.zero_()
            self._stats_t0 = time.perf_counter()
        super().log(logs, start_time)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        # transformers 5.23's Trainer restores weights with a bare load_state_dict, but VLMs save
        # their weights under the original (legacy) key names, so every key misses and the model is
        # silently left as it was (huggingface/transformers#43701). Load through from_pretrained,
        # which renames keys, and copy the weights in. DeepSpeed and peft keep their own formats.
        model = model if model is not None else self.model
        if self.is_deepspeed_enabled or self.is_fsdp_enabled or hasattr(model, "peft_config"):
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        from transformers import AutoModelForImageTextToText

        from critic.models.loading import ModelLoadError, reading_weights

        try:
            with reading_weights(resume_from_checkpoint):
                loaded = AutoModelForImageTextToText.from_pretrained(resume_from_checkpoint, dtype=model.dtype)
        except ModelLoadError as exc:
            raise TrainError(f"--resume: {exc}; move that checkpoint folder aside to resume from the one "
                             "before it") from None
        missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
        if missing or unexpected:
            raise TrainError(f"{resume_from_checkpoint}: weights do not match the model "
                             f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
        del loaded

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        super()._save_checkpoint(model, trial)
        self._stats_t0 = time.perf_counter()  # tokens/s counts training time, not checkpoint writing

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        from critic.training.attention import NAME

        model = self.accelerator.unwrap_model(self.model)
        refuse_nonfinite(model, self.state.global_step)
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        packed = getattr(base.config, "_attn_implementation", None) == NAME
        if packed:  # checkpoints load with plain sdpa
            base.set_attn_implementation("sdpa")
        try:
            super().save_model(output_dir, _internal_call)
        finally:
            if packed:
                base.set_attn_implementation(NAME)
        if self.args.should_save:
            out = output_dir or self.args.output_dir
            write_critic_files(out, self.metadata(self.state.global_step))


def deepspeed_path(value: str | None) -> str | None:
    """``zero2`` / ``zero3`` → the shipped JSON; anything else is a path that must exist."""
    if value is None:
        return None
    if value in ("zero2", "zero3"):
        from critic.assets import asset_dir

        return str(asset_dir("train_configs") / f"{value}.json")
    if not Path(value).is_file():
        raise TrainError(f"train.deepspeed: {value} not found (give a JSON path, or zero2 / zero3)")
    return value


def training_arguments(cfg: TrainConfig, grad_accum: int) -> TrainingArguments:
    tr = cfg.train
    if tr.deepspeed:
        import importlib.util

        if importlib.util.find_spec("deepspeed") is None:
            raise TrainError("train.deepspeed needs DeepSpeed: pip install 'critic[deepspeed]'")
    try:
        check_trackers(tr.report_to)
    except TrainerArgsError as exc:
        raise TrainError(str(exc)) from exc
    cuda = torch.cuda.is_available()
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    backend = tr.ddp_backend or ("gloo" if distributed and not cuda else None)
    # warmup_steps=tr.warmup_ratio is intended: transformers 5 removed ``warmup_ratio`` and reads a
    # ``warmup_steps`` below 1 as a fraction of the training steps (TrainingArguments.get_warmup_steps).
    kwargs = dict(
        output_dir=tr.output_dir, num_train_epochs=tr.epochs, max_steps=tr.max_steps,
        per_device_train_batch_size=1, gradient_accumulation_steps=grad_accum,
        learning_rate=tr.learning_rate, lr_scheduler_type=tr.lr_scheduler, warmup_steps=tr.warmup_ratio,
        weight_decay=tr.weight_decay, max_grad_norm=tr.max_grad_norm, optim=tr.optim, adam_beta2=tr.adam_beta2,
        bf16=tr.bf16, seed=tr.seed, data_seed=tr.seed, deepspeed=deepspeed_path(tr.deepspeed), ddp_backend=backend,
        save_strategy="steps", save_steps=tr.save_steps, save_total_limit=tr.save_total_limit,
        logging_steps=tr.logging_steps, logging_first_step=True, report_to=tr.report_to or "none",
        run_name=tr.run_name, remove_unused_columns=False, dataloader_num_workers=cfg.data.num_workers,
        activation_checkpointing=cfg.model.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if cfg.model.gradient_checkpointing else None,
        dataloader_persistent_workers=cfg.data.num_workers > 0 and cfg.data.cache_encoded,
        disable_tqdm=True, ddp_find_unused_parameters=tr.ddp_find_unused_parameters, average_tokens_across_devices=True,
        use_cpu=not cuda,
    )
    try:
        kwargs = merge_trainer_args(kwargs, tr.trainer_args, TrainingArguments)
    except TrainerArgsError as exc:
        raise TrainError(str(exc)) from exc
    return TrainingArguments(**kwargs)


def _say(msg: str) -> None:
    if int(os.environ.get("RANK", "0")) == 0:
        print(msg, file=sys.stderr, flush=True)


def build_trainer(cfg: TrainConfig) -> tuple[CriticTrainer, dict[str, Any]]:
    """Everything :func:`train` runs, without running it (tests and benchmarks use it too)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    try:
        grad_accum = accumulation_steps(cfg.train.global_batch_size, cfg.train.per_device_batch_size, world)
    except ValueError as exc:
        raise TrainError(f"train: {exc}") from None
    args = training_arguments(cfg, grad_accum)  # before the model: DeepSpeed ZeRO-3 must see its config first
    if args.deepspeed and args.world_size > 1:
        import deepspeed

        # ZeRO-3 builds the model inside deepspeed.zero.Init, which sizes its partitions from
        # deepspeed.comm; make it see the process group accelerate already set up.
        deepspeed.init_distributed()
    from critic.models.loading import ModelLoadError

    try:
        model, processor, trained = prepare_model(cfg.model)
    except ModelLoadError as exc:
        raise TrainError(f"model.name_or_path: {exc}") from None
    encoder = SampleEncoder(processor, eos_token_ids(processor, getattr(model, "generation_config", None)))
    # cache_encoded keeps every encoding anyway: make them while indexing, not measure and encode again.
    # One process only: under data parallelism each rank encodes just the samples it draws.
    encoded: dict | None = {} if cfg.data.cache_encoded and args.world_size == 1 else None
    refs, report = index_training_file(cfg.data.train, encoder, max_length=cfg.data.max_length,
                                       strict=cfg.data.strict, encoded=encoded,
                                       image_ablation=cfg.data.image_ablation,
                                       progress=cfg.train.progress and args.process_index == 0)
    _say(report.summary())
    for w in template_warnings(refs):
        _say(f"warning: {w}")
    data = TrainingData(cfg.data.train, refs)
    sampler = StepSampler(data.lengths, global_batch_size=cfg.train.global_batch_size, world_size=args.world_size,
                          grad_accum=grad_accum, packing=cfg.data.packing, seed=cfg.train.seed,
                          rank=args.process_index, group_by_length=cfg.data.group_by_length)
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if cfg.data.packing and cfg.model.attn_implementation == "sdpa":
        from critic.training.attention import register

        base.set_attn_implementation(register())  # per-sample SDPA over packed rows (no dense L×L mask)
    collator = Collator(data, encoder, packing=cfg.data.packing, dummy_image=cfg.data.dummy_image,
                        image_ablation=cfg.data.image_ablation, cache=cfg.data.cache_encoded, encoded=encoded,
                        rope_index=RopeIndex(base) if RopeIndex.wanted(base) else None)
    callbacks: list[Any] = [ProgressCallback(bar=cfg.train.progress), EpochCallback(sampler)]
    evaluator = None
    if cfg.eval.items:
        evaluator = EvalCallback(cfg.eval.items, max_items=cfg.eval.max_items, swap=cfg.eval.swap,
                                 max_new_tokens=cfg.eval.max_new_tokens, batch_size=cfg.eval.batch_size)
        callbacks.append(evaluator)

    def metadata(t: CriticTrainer, step: int) -> dict:
        losses = [h["loss"] for h in t.state.log_history if "loss" in h]
        return critic_metadata(cfg, refs, report, step=step, max_steps=t.state.max_steps,
                               final_loss=losses[-1] if losses else None, trained_parts=trained,
                               eval_metrics=evaluator.last if evaluator else None)

    trainer = CriticTrainer(model=model, args=args, train_dataset=data, data_collator=collator,
                            processing_class=processor, compute_loss_func=critic_loss, callbacks=callbacks,
                            step_sampler=sampler, metadata=metadata, group_lr=cfg.train.group_lr,
                            decay_ratio=cfg.train.decay_ratio)
    if evaluator is not None:
        evaluator.trainer = trainer
    info = {"grad_accum": grad_accum, "world_size": args.world_size, "steps_per_epoch": sampler.steps_per_epoch,
            "samples": len(data), "report": report, "trained_parameters": trained, "collator": collator}
    return trainer, info


def save_final(trainer: CriticTrainer, cfg: TrainConfig) -> Path:
    """Save the finished model to ``output_dir`` (LoRA merged when asked) with critic.json and the card."""
    out = Path(cfg.train.output_dir)
    model = trainer.model
    if cfg.model.lora is not None and cfg.model.lora.merge_on_save and hasattr(model, "merge_and_unload"):
        if trainer.is_deepspeed_enabled:
            raise TrainError("merging LoRA under DeepSpeed is not supported; set model.lora.merge_on_save: false")
        merged = model.merge_and_unload()
        refuse_nonfinite(merged, trainer.state.global_step)
        if trainer.args.should_save:
            merged.save_pretrained(out)
            trainer.processing_class.save_pretrained(out)
            write_critic_files(out, trainer.metadata(trainer.state.global_step))
        trainer.model = merged
    else:
        trainer.save_model(str(out))
    return out


def check_writable(out: Path) -> None:
    """Fail now, with the reason, if ``train.output_dir`` cannot be written (not after the first step)."""
    probe = out / f".critic-write-test-{os.getpid()}"
    # Folders made for the probe are removed again, so a run that stops on its data next leaves no
    # empty folder behind; not under torchrun, where another rank may be probing the same folder.
    single = int(os.environ.get("WORLD_SIZE", "1")) <= 1
    created = [d for d in (out, *out.parents) if not d.exists()] if single else []
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise TrainError(f"train.output_dir {out}: cannot write there ({exc.strerror or exc})") from None
    for d in created:  # deepest first
        try:
            d.rmdir()
        except OSError:  # something else wrote there meanwhile: leave it
            break


@dataclass
class TrainResult:
    """What :func:`train` returns: where the critic is, how the loss went, how fast it ran."""

    output_dir: str | None  # the final critic (None when ``train.save_final`` is off)
    global_step: int
    train_loss: float  # mean training loss over the run (Trainer's ``training_loss``)
    final_loss: float | None  # the last logged loss
    losses: list[tuple[int, float]]  # (step, loss) at every logging step
    tokens_per_s: list[float]
    wall_s: float
    length_mismatches: int  # samples whose encoded length differed from the indexed one
    trainer: CriticTrainer  # the live Trainer, for callers that inspect the model


def start_run(cfg: TrainConfig, resume: bool) -> Path | None:
    """Seed, check the output folder and find the checkpoint to resume from (None: start afresh).

    Shared by every objective: a run never writes over another run's checkpoints unless resumed.
    """
    from transformers import set_seed

    set_seed(cfg.train.seed)
    out = Path(cfg.train.output_dir)
    check_writable(out)
    ckpt = last_complete_checkpoint(out) if resume else None
    if not resume and checkpoints(out):
        raise TrainError(f"{out} already holds checkpoints; pass --resume to continue that run, or choose "
                         "another train.output_dir")
    if resume and ckpt is None:
        _say(f"--resume: no complete checkpoint in {out}; starting from the beginning")
    return ckpt


def train(cfg: TrainConfig, *, resume: bool = False) -> TrainResult:
    """Run training as ``cfg`` says; returns a :class:`TrainResult`."""
    if cfg.train.objective != "generative":  # reward models: critic.training.objectives.run_training
        raise TrainError(f"train.objective {cfg.train.objective}: use critic.training.objectives.run_training")

    ckpt = start_run(cfg, resume)
    trainer, info = build_trainer(cfg)
    Path(cfg.train.output_dir).mkdir(parents=True, exist_ok=True)  # start_run only probed it
    _say(f"training: {info['samples']} samples, {info['steps_per_epoch']} steps/epoch, world size "
         f"{info['world_size']}, {info['grad_accum']} micro-batch(es) per rank per step, packing "
         f"{'on' if cfg.data.packing else 'off'}" + (f"; resuming from {ckpt}" if ckpt else ""))
    t0 = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
    wall = time.perf_counter() - t0
    final = save_final(trainer, cfg) if cfg.train.save_final else None
    trainer.save_state()  # output_dir/trainer_state.json: the whole log history
    losses = [(h["step"], h["loss"]) for h in trainer.state.log_history if "loss" in h]
    speeds = [h["tokens_per_s"] for h in trainer.state.log_history if "tokens_per_s" in h]
    return TrainResult(output_dir=str(final) if final else None, global_step=trainer.state.global_step,
                       train_loss=result.training_loss, final_loss=losses[-1][1] if losses else None,
                       losses=losses, tokens_per_s=speeds, wall_s=wall,
                       length_mismatches=info["collator"].length_mismatches, trainer=trainer)

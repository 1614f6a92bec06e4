"""The training config: typed sections loaded from YAML, ``--key value`` overrides, clear errors.

A config file has four sections, ``model``, ``data``, ``train`` and ``eval`` (see ``train/toy.yaml``
and ``docs/training.md``). Every key is typed and checked; a key that does not exist is an error
naming it, its file and, when one is close, the key that was probably meant. Overrides use the dotted
path (``--train.learning_rate 1e-5``, ``--data.packing=false``) or, when unambiguous, the bare key
(``--learning_rate 1e-5``); values are read as YAML scalars and validated like the file's.

>>> base = {"model": {"name_or_path": "m"}, "data": {"train": "d/train.jsonl"}, "train": {"output_dir": "out"}}
>>> cfg = load_config_dict(base, ["--train.learning_rate", "1e-4", "--packing=false"])
>>> cfg.train.learning_rate, cfg.data.packing
(0.0001, False)
>>> load_config_dict({**base, "train": {"output_dir": "o", "learnig_rate": 1}}, source="t.yaml")
Traceback (most recent call last):
...
critic.training.config.ConfigError: t.yaml: train.learnig_rate: unknown key (did you mean 'learning_rate'?)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from critic.training.schedule import WSD
from critic.typed_config import Schema, Section, TypedConfigError, dotted_keys


class ConfigError(TypedConfigError):
    """A config that cannot be used; the message names the file and the key."""


class FreezeConfig(Section):
    """Parts of the model whose weights are not trained."""

    vision_tower: bool = False
    projector: bool = False
    language_model: bool = False


class LoraConfig(Section):
    """LoRA adapters (peft) on the language model's linear layers; the rest stays as ``freeze`` says."""

    r: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: str | list[str] = "all-linear"
    apply_to: Literal["language_model", "all"] = "language_model"
    merge_on_save: bool = True


class ModelConfig(Section):
    """The base model: a checkpoint (``name_or_path``) or a tiny random one (``tiny``, TinySpec fields)."""

    name_or_path: str | None = None
    tiny: dict[str, Any] | None = None
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2", "flash_attention_3", "flex_attention"] = "sdpa"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "float32"
    trust_remote_code: bool = False
    processor_kwargs: dict[str, Any] = Field(default_factory=dict)
    gradient_checkpointing: bool = False
    freeze: FreezeConfig = Field(default_factory=FreezeConfig)
    lora: LoraConfig | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ModelConfig:
        if (self.name_or_path is None) == (self.tiny is None):
            raise ValueError("give exactly one of model.name_or_path (a checkpoint) or model.tiny (a tiny spec)")
        if self.tiny is not None:
            from dataclasses import fields

            from critic.models.tiny import TinySpec

            known = {f.name for f in fields(TinySpec)}
            bad = sorted(set(self.tiny) - known)
            if bad:
                raise ValueError(f"model.tiny: unknown key(s) {bad}; known: {sorted(known)}")
            try:
                TinySpec(**self.tiny)
            except ValueError as exc:
                raise ValueError(f"model.tiny: {exc}") from None
        return self


class DataConfig(Section):
    """Training samples (``critic data build`` output: TrainingSample JSONL + images)."""

    train: str
    max_length: int = Field(4096, ge=8)
    packing: bool = True
    group_by_length: bool = True
    dummy_image: bool = True
    image_ablation: Literal["none", "blank"] = "none"
    num_workers: int = Field(0, ge=0)
    cache_encoded: bool = False
    strict: bool = False
    default_templates: dict[Literal["pointwise", "pairwise"], str] | None = None


class TrainSection(Section):
    """Optimisation, schedule, precision, distribution, checkpoints and logging."""

    model_config = ConfigDict(**Section.model_config, allow_inf_nan=False)  # learning_rate: inf is no rate

    output_dir: str
    #: generative: LLaVA-Critic cross-entropy on rationale + verdict; scalar: Bradley–Terry reward model;
    #: critique_score: critique NLL + Bradley–Terry (MM-RLHF-Reward). The last two read preference pairs.
    objective: Literal["generative", "scalar", "critique_score"] = "generative"
    epochs: float = Field(1.0, gt=0)
    max_steps: int = -1
    global_batch_size: int = Field(32, ge=1)
    per_device_batch_size: int = Field(4, ge=1)
    learning_rate: float = Field(2e-6, gt=0)
    #: peak rate per model part (vision_tower, projector, language_model); the others use learning_rate
    #: (LLaVA-OneVision's mm_vision_tower_lr / mm_projector_lr; critic.training.param_groups)
    group_lr: dict[Literal["vision_tower", "projector", "language_model"], Annotated[float, Field(gt=0)]] = \
        Field(default_factory=dict)
    #: warmup_stable_decay (WSD, MiniCPM's schedule): warm-up, the peak rate held, then a cosine decay over
    #: the last ``decay_ratio`` of the steps (critic.training.schedule)
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup", "cosine_with_restarts",
                          "warmup_stable_decay"] = "cosine"
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    decay_ratio: float = Field(0.2, gt=0, le=1)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, ge=0)
    # transformers' own default: one fused kernel per step. On CPU, "adamw_torch" runs torch's per-tensor
    # loop (no foreach kernels there), ~5 ms of a tiny critic's ~50 ms step. The same losses after 400 toy
    # steps, but not bitwise the same rounding: 2,240 steps end elsewhere (train/toy.yaml pins adamw_torch).
    optim: str = "adamw_torch_fused"
    adam_beta2: float = Field(0.999, gt=0, lt=1)
    bf16: bool = False
    seed: int = 0
    deepspeed: str | None = None
    ddp_find_unused_parameters: bool = True
    ddp_backend: Literal["nccl", "gloo", "mpi", "ccl", "hccl", "cncl", "mccl"] | None = None
    save_steps: int = Field(500, ge=1)
    save_total_limit: int | None = Field(2, ge=1)
    save_final: bool = True
    logging_steps: int = Field(10, ge=1)
    #: any tracker transformers supports (tensorboard, wandb, mlflow, comet_ml, trackio, ...); checked, with whether
    #: its package is installed, when the TrainingArguments are built (critic.training.trainer)
    report_to: list[str] = Field(default_factory=list)
    run_name: str | None = None
    progress: bool = True
    #: any other TrainingArguments field, merged last over what critic sets (an unknown key is an error)
    trainer_args: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _wsd_fits(self) -> TrainSection:
        if self.lr_scheduler == WSD and self.warmup_ratio + self.decay_ratio > 1:
            raise ValueError(f"warmup_ratio {self.warmup_ratio} + decay_ratio {self.decay_ratio} is more than the "
                             "whole run; warmup_stable_decay needs them to add up to 1 at most")
        return self


class EvalSection(Section):
    """Judging held-out items with each saved checkpoint (the real ``Critic.from_pretrained`` path)."""

    items: str | None = None
    max_items: int = Field(200, ge=1)
    swap: Literal["none", "random", "both"] = "none"
    max_new_tokens: int = Field(64, ge=1)
    batch_size: int = Field(32, ge=1)


class RewardSection(Section):
    """Reward-model options (``train.objective`` scalar / critique_score; ignored for generative)."""

    centre_weight: float | None = Field(None, ge=0, description="weight of mean((r_c + r_r)^2); default 0 for "
                                        "scalar, 0.01 for critique_score")
    critique_weight: float = Field(1.0, ge=0, description="weight of the critique NLL (critique_score)")
    lm_weight: float = Field(0.0, ge=0, description="weight of the language-model loss on the chosen response "
                             "(GRM's SFT regulariser, Yang et al. 2024), either kind; 0 = off")
    head_dropout: float = Field(0.1, ge=0, lt=1, description="dropout in the critique_score head")
    stats_samples: int = Field(256, ge=2, description="training responses scored for the saved reward mean / std")


class TrainConfig(Section):
    model: ModelConfig
    data: DataConfig
    train: TrainSection
    eval: EvalSection = Field(default_factory=EvalSection)
    reward: RewardSection = Field(default_factory=RewardSection)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


SECTIONS: dict[str, type[Section]] = {"model": ModelConfig, "data": DataConfig, "train": TrainSection,
                                      "eval": EvalSection, "reward": RewardSection}


ALL_KEYS = [k for s, cls in SECTIONS.items() for k in [s, *dotted_keys(cls, s + ".")]]


def _mapping_key(key: str) -> bool:
    """``model.tiny.<field>`` / ``train.group_lr.<part>``: entries of a mapping field, checked by its model."""
    parts = key.split(".")
    return len(parts) == 3 and parts[:2] in (["model", "tiny"], ["train", "group_lr"])


_SCHEMA = Schema(TrainConfig, ALL_KEYS, ConfigError, extra_key=_mapping_key, value_before_key=True,
                 mapping_hint=f" with sections {', '.join(SECTIONS)}")


def parse_overrides(args: list[str]) -> list[tuple[list[str], Any]]:
    """``["--a.b", "1", "--c=x"]`` → ``[(["a", "b"], 1), (["c"], "x")]`` (values parsed as YAML scalars)."""
    return _SCHEMA.parse_overrides(args)


def load_config_dict(data: dict[str, Any], overrides: list[str] = (), *, source: str = "config") -> TrainConfig:
    """Validate a config mapping after applying ``overrides`` (CLI-style strings)."""
    return _SCHEMA.load_dict(data, overrides, source=source)


def load_config(path: str | Path, overrides: list[str] = ()) -> TrainConfig:
    """Read a YAML config file and apply ``overrides``; errors name the file and the key."""
    return _SCHEMA.load(path, overrides)

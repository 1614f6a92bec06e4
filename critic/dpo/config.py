"""The ``critic dpo`` run config: typed sections from YAML, ``--section.key value`` overrides, clear errors.

See ``train/dpo_toy.yaml`` (tiny, CPU) and ``train/dpo_llava_ov_7b.yaml`` (LLaVA-OneVision-Chat's
recipe) and ``docs/preferences.md``. Relative paths are relative to the directory ``critic dpo`` runs in.

>>> cfg = load_dpo_config_dict({"output_dir": "o", "prompts": "p.jsonl", "policy": {"name_or_path": "m"},
...                             "critic": {"model": "gpt-4o", "backend": "openai"}}, ["--dpo.beta", "0.2"])
>>> cfg.dpo.beta, cfg.sampling.k, cfg.critic.aggregation
(0.2, 5, 'llava_ov')
>>> load_dpo_config_dict({"output_dir": "o", "prompts": "p", "policy": {"name_or_path": "m"},
...                       "critic": {"model": "m"}, "dpo": {"betta": 1}}, source="x.yaml")
Traceback (most recent call last):
...
critic.dpo.config.DPOConfigError: x.yaml: dpo.betta: unknown key (did you mean 'beta'?)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from critic.judging.spec import JudgeSpec
from critic.pairs.recipe import PairsRecipe
from critic.typed_config import Schema, Section, TypedConfigError, dotted_keys


class DPOConfigError(TypedConfigError):
    """A config that cannot be used; the message names the file and the key."""


class PolicySection(Section):
    """The starting policy checkpoint (round 0 samples from it)."""

    name_or_path: str
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    trust_remote_code: bool = False


class SamplingSection(Section):
    """How the policy answers: K samples per prompt (LLaVA-OV-Chat: K=5, temperature 0.7, top-p 0.9)."""

    k: int = Field(5, ge=2)
    temperature: float = Field(0.7, gt=0)
    top_p: float = Field(0.9, gt=0, le=1)
    max_new_tokens: int = Field(256, ge=1)
    backend: Literal["hf", "openai"] = "hf"
    batch_size: int = Field(16, ge=1)
    base_url: list[str] | None = None
    model: str = "{checkpoint}"
    reload_command: str | None = None
    reload_timeout: float = Field(900.0, gt=0)
    concurrency: int = Field(32, ge=1)
    max_prompts: int | None = Field(None, ge=1)
    device: str | None = None


class CriticSection(Section, JudgeSpec):
    """The preference labeller: any judge (:class:`~critic.judging.spec.JudgeSpec`: every key of
    ``critic judge``'s options, e.g. ``backend``, ``model``, ``base_url``, ``template``, ``max_new_tokens``,
    ``timeout``, ``cache``) plus how its judgments become rewards. ``seed`` defaults to the run's.
    """

    mode: Literal["pairwise", "pointwise"] = "pairwise"
    aggregation: Literal["llava_ov", "win_count", "bradley_terry"] = "llava_ov"


class DRSSection(Section):
    """Dynamic Reward Scaling (MM-RLHF): per-pair β(δ) = β0·(1 + w·(1 − e^(−kδ))), δ the reward margin."""

    enabled: bool = False
    w: float = Field(0.5, ge=0)
    k: float = Field(0.5, gt=0)
    #: δ from: reward (the pair's reward margin) or expected_score (its expected_margin, written when the
    #: critic judges with verdict_probs: true; :mod:`critic.judging.expected_outcomes`)
    margin: Literal["reward", "expected_score"] = "reward"


class DPOSection(Section):
    """One round of DPO with TRL's DPOTrainer (LLaVA-OV-Chat: β 0.1, lr 5e-7, one epoch)."""

    beta: float = Field(0.1, gt=0)
    learning_rate: float = Field(5e-7, gt=0)
    epochs: float = Field(1.0, gt=0)
    max_steps: int = -1
    batch_size: int = Field(8, ge=1)
    grad_accum: int = Field(1, ge=1)
    loss_type: list[str] = Field(default_factory=lambda: ["sigmoid"])
    loss_weights: list[float] | None = None
    max_length: int | None = None
    lr_scheduler: str = "cosine"
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    bf16: bool | None = None
    gradient_checkpointing: bool = False
    logging_steps: int = Field(10, ge=1)
    save_steps: int = Field(500, ge=1)
    #: trackers each round reports to, as TrainingArguments' report_to (tensorboard, wandb, mlflow, ...); logs
    #: go under the round's trainer folder
    report_to: list[str] = Field(default_factory=list)
    drs: DRSSection = Field(default_factory=DRSSection)
    extra: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _weights_match(self) -> DPOSection:
        if self.loss_weights is not None and len(self.loss_weights) != len(self.loss_type):
            raise ValueError(f"loss_weights has {len(self.loss_weights)} entries for {len(self.loss_type)} loss types")
        return self


class EvalSection(Section):
    """Scoring each round's policy pointwise (its mean score is the run's progress measure)."""

    enabled: bool = True
    prompts: str | None = None
    k: int = Field(2, ge=1)
    max_prompts: int | None = Field(None, ge=1)
    template: str | None = None
    judge_model: str | None = None
    judge_backend: Literal["hf", "openai"] | None = None
    judge_base_url: list[str] | None = None


class DPORunConfig(Section):
    output_dir: str
    prompts: str
    rounds: int = Field(3, ge=1)
    seed: int = 0
    policy: PolicySection
    sampling: SamplingSection = Field(default_factory=SamplingSection)
    critic: CriticSection
    dpo: DPOSection = Field(default_factory=DPOSection)
    eval: EvalSection = Field(default_factory=EvalSection)
    #: per-source methods (correctness, dropout_ntp, critic) instead of one critic tournament over
    #: ``prompts``: a pairs recipe without its policy (critic.pairs.round)
    pairs: PairsRecipe | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


ALL_KEYS = dotted_keys(DPORunConfig)

_SCHEMA = Schema(DPORunConfig, ALL_KEYS, DPOConfigError, whole_path_suggestions=False, ambiguous="ambiguous: {keys}",
                 yaml_problem=False)


def parse_overrides(args: list[str]) -> list[tuple[list[str], Any]]:
    """``["--dpo.beta", "0.2", "--rounds=2"]`` → ``[(["dpo", "beta"], 0.2), (["rounds"], 2)]`` (YAML scalars)."""
    return _SCHEMA.parse_overrides(args)


def load_dpo_config_dict(data: dict[str, Any], overrides: Sequence[str] = (), *, source: str = "config") -> DPORunConfig:
    """Validate a config mapping after applying ``overrides`` (CLI-style strings)."""
    return _SCHEMA.load_dict(data, overrides, source=source)


def load_dpo_config(path: str | Path, overrides: Sequence[str] = ()) -> DPORunConfig:
    """Read a YAML config and apply ``overrides``; errors name the file and the key."""
    return _SCHEMA.load(path, overrides)

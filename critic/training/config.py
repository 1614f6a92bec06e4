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

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ConfigError(ValueError):
    """A config that cannot be used; the message names the file and the key."""


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


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

            from critic.tiny_models import TinySpec

            known = {f.name for f in fields(TinySpec)}
            bad = sorted(set(self.tiny) - known)
            if bad:
                raise ValueError(f"model.tiny: unknown key(s) {bad}; known: {sorted(known)}")
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

    output_dir: str
    epochs: float = Field(1.0, gt=0)
    max_steps: int = -1
    global_batch_size: int = Field(32, ge=1)
    per_device_batch_size: int = Field(4, ge=1)
    learning_rate: float = Field(2e-6, gt=0)
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup", "cosine_with_restarts"] = "cosine"
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, ge=0)
    optim: str = "adamw_torch"
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
    report_to: list[Literal["tensorboard", "wandb"]] = Field(default_factory=list)
    run_name: str | None = None
    progress: bool = True


class EvalSection(Section):
    """Judging held-out items with each saved checkpoint (the real ``Critic.from_pretrained`` path)."""

    items: str | None = None
    max_items: int = Field(200, ge=1)
    swap: Literal["none", "random", "both"] = "none"
    max_new_tokens: int = Field(64, ge=1)
    batch_size: int = Field(32, ge=1)


class TrainConfig(Section):
    model: ModelConfig
    data: DataConfig
    train: TrainSection
    eval: EvalSection = Field(default_factory=EvalSection)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


SECTIONS: dict[str, type[Section]] = {"model": ModelConfig, "data": DataConfig, "train": TrainSection,
                                      "eval": EvalSection}


def _keys_of(cls: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, f in cls.model_fields.items():
        out.append(prefix + name)
        ann = f.annotation
        if isinstance(ann, type) and issubclass(ann, Section):
            out += _keys_of(ann, prefix + name + ".")
    return out


ALL_KEYS = [k for s, cls in SECTIONS.items() for k in [s, *_keys_of(cls, s + ".")]]


def _suggest(bad: str) -> str:
    close = difflib.get_close_matches(bad, ALL_KEYS, n=1, cutoff=0.75)
    if not close:
        close = difflib.get_close_matches(bad.rsplit(".", 1)[-1], [k.rsplit(".", 1)[-1] for k in ALL_KEYS], n=1,
                                          cutoff=0.75)
    return f" (did you mean {close[0].rsplit('.', 1)[-1]!r}?)" if close else ""


def _explain(exc: ValidationError, source: str) -> ConfigError:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"{source}: {loc}: unknown key{_suggest(loc)}")
        elif err["type"] == "missing":
            lines.append(f"{source}: {loc}: required key is missing")
        else:
            got = err.get("input")
            shown = f" (got {got!r})" if not isinstance(got, dict) else ""
            lines.append(f"{source}: {loc or '(config)'}: {err['msg']}{shown}")
    return ConfigError("\n".join(lines))


def _resolve_key(key: str) -> list[str]:
    """The dotted path an override names: itself if it exists, else the unique key ending in it."""
    if key in ALL_KEYS:
        return key.split(".")
    matches = [k for k in ALL_KEYS if k.endswith("." + key)]
    if len(matches) == 1:
        return matches[0].split(".")
    if len(matches) > 1:
        raise ConfigError(f"override --{key}: ambiguous; use one of {', '.join('--' + m for m in matches)}")
    if key.startswith("model.tiny.") and len(key.split(".")) == 3:
        return key.split(".")
    raise ConfigError(f"override --{key}: unknown key{_suggest(key)}")


def parse_overrides(args: list[str]) -> list[tuple[list[str], Any]]:
    """``["--a.b", "1", "--c=x"]`` → ``[(["a", "b"], 1), (["c"], "x")]`` (values parsed as YAML scalars)."""
    out: list[tuple[list[str], Any]] = []
    i = 0
    while i < len(args):
        tok = args[i]
        if not tok.startswith("--") or len(tok) < 3:
            raise ConfigError(f"override {tok!r}: expected --key value or --key=value")
        if "=" in tok:
            key, raw = tok[2:].split("=", 1)
            i += 1
        else:
            if i + 1 >= len(args):
                raise ConfigError(f"override {tok}: missing value")
            key, raw = tok[2:], args[i + 1]
            i += 2
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        out.append((_resolve_key(key.replace("-", "_")), value))
    return out


def _set(data: dict[str, Any], path: list[str], value: Any) -> None:
    node = data
    for p in path[:-1]:
        nxt = node.get(p)
        if not isinstance(nxt, dict):
            nxt = node[p] = {}
        node = nxt
    node[path[-1]] = value


def load_config_dict(data: dict[str, Any], overrides: list[str] = (), *, source: str = "config") -> TrainConfig:
    """Validate a config mapping after applying ``overrides`` (CLI-style strings)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with sections {', '.join(SECTIONS)}")
    data = yaml.safe_load(yaml.safe_dump(data))  # a deep copy
    for path, value in parse_overrides(list(overrides)):
        _set(data, path, value)
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc, source) from None


def load_config(path: str | Path, overrides: list[str] = ()) -> TrainConfig:
    """Read a YAML config file and apply ``overrides``; errors name the file and the key."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read the config: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p}{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    return load_config_dict(data, overrides, source=str(p))

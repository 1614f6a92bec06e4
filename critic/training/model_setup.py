"""The model to train: load (or build a tiny one), choose attention, freeze parts, add LoRA.

Parameter groups are found by name, the same way for every supported family:

==================  ===========================================================================
``vision_tower``    ``vision_tower`` (LLaVA, LLaVA-OneVision), ``visual`` minus its merger (Qwen2-VL)
``projector``       ``multi_modal_projector`` and ``image_newline`` (LLaVA*), ``visual.merger`` (Qwen2-VL)
``language_model``  ``language_model`` and ``lm_head``
==================  ===========================================================================

LoRA comes from peft (optional dependency): adapters on the language model's linear layers (or on
every linear layer, ``apply_to: all``); vision tower / projector stay trainable or frozen as
``freeze`` says and, when trainable, are saved whole with the adapters (peft ``modules_to_save``).
"""

from __future__ import annotations

from typing import Any

from critic.training.config import ModelConfig

GROUPS = ("vision_tower", "projector", "language_model")
_PROJECTOR = ("multi_modal_projector", "visual.merger", "image_newline")
_VISION = ("vision_tower", "visual", "vision_model")
_LM = ("language_model", "lm_head")


def group_of(name: str) -> str | None:
    """The group a parameter or module name belongs to (``None`` if none matches).

    >>> group_of("model.visual.merger.mlp.0.weight"), group_of("model.visual.blocks.0.attn.qkv.weight")
    ('projector', 'vision_tower')
    >>> group_of("base_model.model.model.language_model.layers.0.mlp.up_proj.lora_A.default.weight")
    'language_model'
    """
    parts = name.split(".")
    dotted = "." + name + "."
    if any(f".{p}." in dotted for p in _PROJECTOR):
        return "projector"
    if any(p in parts for p in _VISION):
        return "vision_tower"
    if any(p in parts for p in _LM):
        return "language_model"
    return None


def load_base(cfg: ModelConfig) -> tuple[Any, Any]:
    """(model in train mode, processor) from ``cfg``: a checkpoint or a tiny random model."""
    import torch

    if cfg.tiny is not None:
        from critic.models.tiny import TinySpec, build_tiny

        model, processor = build_tiny(TinySpec(**cfg.tiny))
        model.set_attn_implementation(cfg.attn_implementation)
        if cfg.dtype not in ("auto", "float32"):
            model.to(getattr(torch, cfg.dtype))
    else:
        from critic.models.loading import load_model, load_processor

        model = load_model(cfg.name_or_path, dtype=cfg.dtype, trust_remote_code=cfg.trust_remote_code,  # type: ignore[arg-type]
                           attn_implementation=cfg.attn_implementation)
        processor = load_processor(cfg.name_or_path, trust_remote_code=cfg.trust_remote_code,  # type: ignore[arg-type]
                                   **cfg.processor_kwargs)
    model.train()
    return model, processor


def apply_freeze(model: Any, cfg: ModelConfig) -> dict[str, int]:
    """Freeze the groups ``cfg.freeze`` names; returns trainable parameter counts per group."""
    frozen = {g for g in GROUPS if getattr(cfg.freeze, g)}
    if frozen == set(GROUPS):
        raise ValueError("model.freeze freezes every part of the model; nothing would be trained")
    counts = dict.fromkeys(GROUPS, 0)
    for name, p in model.named_parameters():
        g = group_of(name)
        if g in frozen:
            p.requires_grad_(False)
        elif p.requires_grad and g is not None:
            counts[g] += p.numel()
    return counts


def apply_lora(model: Any, cfg: ModelConfig) -> Any:
    """Wrap ``model`` with peft LoRA adapters as ``cfg.lora`` says."""
    import torch

    lora = cfg.lora
    assert lora is not None
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as exc:
        raise ImportError("model.lora needs peft: pip install 'critic[lora]' (or pip install peft)") from exc
    if isinstance(lora.target_modules, str) and lora.target_modules == "all-linear":
        targets: Any = sorted(n for n, m in model.named_modules()
                              if isinstance(m, torch.nn.Linear) and not n.endswith("lm_head")
                              and (lora.apply_to == "all" or group_of(n) == "language_model"))
    else:
        targets = lora.target_modules
    keep = []  # trainable non-LM parts are saved whole next to the adapters
    if lora.apply_to == "language_model":
        for g, top in (("vision_tower", ("vision_tower", "visual")), ("projector", ("multi_modal_projector",))):
            if not getattr(cfg.freeze, g):
                keep += [n for n, _ in model.named_modules() if n.split(".")[-1] in top and n.count(".") <= 1]
    config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets,
                        modules_to_save=keep or None, task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def prepare_model(cfg: ModelConfig) -> tuple[Any, Any, dict[str, int]]:
    """Load, freeze and (optionally) LoRA-wrap the model; returns (model, processor, trainable per group)."""
    model, processor = load_base(cfg)
    counts = apply_freeze(model, cfg)
    if cfg.lora is not None:
        model = apply_lora(model, cfg)
        counts = dict.fromkeys(GROUPS, 0)
        for name, p in model.named_parameters():
            g = group_of(name)
            if p.requires_grad and g is not None:
                counts[g] += p.numel()
    return model, processor, counts

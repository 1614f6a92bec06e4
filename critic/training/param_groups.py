"""Learning rates per part of the model (vision tower, projector, language model).

LLaVA-OneVision's recipes train the vision tower at a fifth of the language model's rate
(``mm_vision_tower_lr``) and some projector-alignment recipes raise the projector's
(``mm_projector_lr``); transformers' Trainer has one rate for every parameter. ``train.group_lr``
maps a group (:data:`critic.training.model_setup.GROUPS`) to its own peak rate; the schedule
(warm-up, decay) scales every group alike, because the scheduler multiplies each group's own
initial rate.

The split is done on the optimizer the Trainer built (so its weight-decay groups, its optimizer
class and its arguments stay as transformers chose them): each of its parameter groups is split
by model part, and the parts named in ``group_lr`` get their rate.

>>> import torch
>>> m = torch.nn.ModuleDict({"vision_tower": torch.nn.Linear(2, 2), "language_model": torch.nn.Linear(2, 2)})
>>> opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
>>> split_param_groups(opt, m, {"vision_tower": 5e-3})
{'vision_tower': 2, 'language_model': 2}
>>> sorted((g["lr"], len(g["params"])) for g in opt.param_groups)
[(0.001, 2), (0.005, 2)]
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from critic.training.model_setup import group_of


def split_param_groups(optimizer: Any, model: Any, group_lr: dict[str, float]) -> dict[str, int]:
    """Split ``optimizer``'s parameter groups by model part; parts in ``group_lr`` get that rate.

    Must run before the optimizer has state and before the scheduler reads the groups' rates.
    Returns the number of parameter tensors per part (a part with none named in ``group_lr`` is an
    error: the rate would silently apply to nothing).
    """
    names = {id(p): n for n, p in model.named_parameters()}
    counts: Counter[str] = Counter()
    new_groups: list[dict[str, Any]] = []
    for group in optimizer.param_groups:
        parts: dict[str, list[Any]] = {}
        for p in group["params"]:
            part = group_of(names.get(id(p), "")) or "other"
            parts.setdefault(part, []).append(p)
            counts[part] += 1
        for part, params in parts.items():
            new_groups.append({**group, "params": params, "lr": group_lr.get(part, group["lr"])})
    missing = sorted(set(group_lr) - set(counts))
    if missing:
        raise ValueError(f"train.group_lr names {', '.join(missing)}, but no trainable parameter belongs to it "
                         f"(trainable parts: {', '.join(sorted(counts)) or 'none'})")
    optimizer.param_groups.clear()
    # groups at the base rate first: transformers logs the first group's rate as ``learning_rate``
    for group in sorted(new_groups, key=lambda g: g["lr"] != optimizer.defaults["lr"]):
        optimizer.add_param_group(group)
    return dict(counts)

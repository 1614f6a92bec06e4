"""``RewardNet``: a transformers VLM backbone (``AutoModelForImageTextToText``) plus a reward head.

``forward`` runs the backbone's base model (``model.model``: vision tower, projector, language
model, no LM head) once, reads the hidden state at ``last_index`` of every row and maps it through
the head; with ``labels`` (a critique_score model's critiques) and / or ``response_labels`` (the chosen
responses, under ``reward.lm_weight``) it also applies the LM head (``model.lm_head``) and returns the
NLL of each. Saved as the backbone (``save_pretrained``: safetensors + config), the head
in ``reward_head.safetensors``, and the kind in ``critic.json`` (``kind``, ``reward``: head settings
and the reward mean / std measured on the training responses, for normalising).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from critic.reward.heads import make_head
from critic.reward.losses import critique_nll
from critic.reward.meta import HEAD_FILE, checkpoint_kind, reward_meta


def _base(model: Any) -> Any:
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def hidden_size(backbone: Any) -> int:
    cfg = _base(backbone).config
    text = getattr(cfg, "text_config", None) or cfg
    return int(text.hidden_size)


class RewardNet(nn.Module):
    """Backbone + head; ``forward`` returns ``{"rewards": (B,), "nll": scalar or None, "response_nll": …}``."""

    def __init__(self, backbone: Any, kind: str, *, dropout: float = 0.1):
        super().__init__()
        self.backbone = backbone
        self.kind = kind
        self.dropout = dropout
        self.head = make_head(kind, hidden_size(backbone), dropout=dropout)
        self.config = _base(backbone).config  # what Trainer and peft look for

    def gradient_checkpointing_enable(self, **kwargs: Any) -> None:
        self.backbone.gradient_checkpointing_enable(**kwargs)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, last_index: torch.Tensor,
                labels: torch.Tensor | None = None, response_labels: torch.Tensor | None = None,
                **mm: Any) -> dict[str, Any]:
        base = _base(self.backbone)
        out = base.model(input_ids=input_ids, attention_mask=attention_mask, **mm)
        hidden = out.last_hidden_state
        at = hidden[torch.arange(hidden.shape[0], device=hidden.device), last_index.to(hidden.device)]
        rewards = self.head(at.to(next(self.head.parameters()).dtype)).float()
        nlls: dict[str, Any] = {"nll": labels, "response_nll": response_labels}
        logits = None
        for name, target in nlls.items():
            if target is None or not (target != -100).any():
                nlls[name] = None
                continue
            logits = base.lm_head(hidden) if logits is None else logits  # one LM-head pass for both
            nlls[name] = critique_nll(logits, target.to(hidden.device))
        return {"rewards": rewards, **nlls}

    # -- saving and loading --------------------------------------------------------------------
    def save_pretrained(self, out: str | Path, *, state_dict: dict | None = None) -> None:
        """Backbone via ``save_pretrained``, head in ``reward_head.safetensors`` (critic.json is the caller's)."""
        from safetensors.torch import save_file

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        _base(self.backbone).save_pretrained(out)
        head = {k: v.detach().contiguous().cpu() for k, v in self.head.state_dict().items()}
        save_file(head, str(out / HEAD_FILE))

    def head_settings(self) -> dict[str, Any]:
        return {"head": type(self.head).__name__, "hidden_size": hidden_size(self.backbone), "dropout": self.dropout}

    @classmethod
    def from_pretrained(cls, path: str | Path, *, dtype: Any = None, device: str | None = None) -> RewardNet:
        """Load a reward-model checkpoint (``critic.json`` must record ``scalar`` or ``critique_score``)."""
        from safetensors.torch import load_file

        from critic.models.loading import load_model

        kind = checkpoint_kind(path)
        if kind == "generative":
            raise ValueError(f"{path}: not a reward-model checkpoint (critic.json records no reward kind)")
        meta = reward_meta(path)
        backbone = load_model(str(path), dtype=dtype or "auto", device=device)
        model = cls(backbone, kind, dropout=float(meta.get("dropout", 0.1)))
        model.head.load_state_dict(load_file(str(Path(path) / HEAD_FILE)))
        return model.to(next(backbone.parameters()).device).eval()

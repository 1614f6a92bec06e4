"""Per-sample SDPA for packed rows: the CPU (and non-flash GPU) counterpart of flash-attention varlen.

With packing, transformers' ``sdpa`` implementation builds a dense ``L × L`` block-diagonal mask
for the whole row and attends over all of it: the cost grows with the square of the row length
although each token sees only its own sample. Flash attention avoids that by cutting the row at the
position-id resets (varlen kernels); this module does the same with one
``torch.nn.functional.scaled_dot_product_attention(is_causal=True)`` call per sample.

It is registered with transformers' ``AttentionInterface`` as ``critic_packed_sdpa`` and used
only while training with packing and ``attn_implementation: sdpa`` (checkpoints are saved with
``sdpa``). The model then creates no mask at all (the name has no mask function), which is right
for both cases it meets: packed rows (segments from ``position_ids``) and right-padded rows under a
causal mask (a real token never looks ahead to the padding). Anything else — bidirectional
attention such as a vision tower, a batch of several rows, a KV cache — goes to transformers' own
``sdpa_attention_forward`` unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

NAME = "critic_packed_sdpa"


def segment_bounds(position_ids: torch.Tensor) -> list[int]:
    """Start offsets of the samples in a packed row, plus its length (a sample starts where the
    position does not grow by one — the rule of ``masking_utils.find_packed_sequence_indices``).

    >>> segment_bounds(torch.tensor([[0, 1, 2, 0, 1, 0, 1, 2, 3]]))
    [0, 3, 5, 9]
    """
    p = position_ids.reshape(-1, position_ids.shape[-1])[0]
    starts = (torch.diff(p) != 1).nonzero().flatten().add(1).tolist()
    return [0, *starts, int(p.shape[0])]


def packed_sdpa(module: Any, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                is_causal: bool | None = None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    pos = kwargs.get("position_ids")
    causal = getattr(module, "is_causal", False) if is_causal is None else is_causal
    if (attention_mask is not None or pos is None or not causal or query.shape[0] != 1
            or query.shape[2] != key.shape[2] or pos.shape[-1] != query.shape[2]):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    bounds = segment_bounds(pos)
    gqa = query.shape[1] != key.shape[1]
    outs = [F.scaled_dot_product_attention(query[:, :, s:e], key[:, :, s:e], value[:, :, s:e], dropout_p=dropout,
                                           scale=scaling, is_causal=True, enable_gqa=gqa)
            for s, e in zip(bounds, bounds[1:])]
    out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)
    return out.transpose(1, 2).contiguous(), None


def register() -> str:
    """Register :func:`packed_sdpa` with transformers (idempotent); returns its name."""
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, packed_sdpa)
    return NAME

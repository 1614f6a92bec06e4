"""Per-sample SDPA for packed rows: the CPU (and non-flash GPU) counterpart of flash-attention varlen.

With packing, transformers' ``sdpa`` implementation builds a dense ``L × L`` block-diagonal mask
for the whole row and attends over all of it: the cost grows with the square of the row length
although each token sees only its own sample. Flash attention avoids that by cutting the row at the
position-id resets (varlen kernels); this module does the same: the samples of the row are laid
out as a right-padded (samples × longest) batch and attended in one
``torch.nn.functional.scaled_dot_product_attention(is_causal=True)`` call (causal, so a real token
never sees the padding after it), and the padded positions are dropped again.

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
    if len(bounds) == 2:
        out = F.scaled_dot_product_attention(query, key, value, dropout_p=dropout, scale=scaling, is_causal=True,
                                             enable_gqa=gqa)
        return out.transpose(1, 2).contiguous(), None
    # One batched call per layer instead of one per sample (the per-sample calls, their slices and
    # their backward were ~20 % of a tiny critic's step in torch.profiler; the step got at most a few
    # per cent faster, within the machine's noise). The samples are laid out as rows of a
    # (samples, longest) batch, right-padded with zeros. Under the causal mask a real token only sees
    # earlier positions of its own row, all real, so the padding changes nothing; the padded
    # positions' outputs are dropped.
    where, n, longest = _padded_layout(bounds, query.device)
    out = F.scaled_dot_product_attention(_to_rows(query, where, n, longest), _to_rows(key, where, n, longest),
                                         _to_rows(value, where, n, longest), dropout_p=dropout, scale=scaling,
                                         is_causal=True, enable_gqa=gqa)
    out = out.transpose(0, 1).reshape(1, out.shape[1], n * longest, out.shape[3]).index_select(2, where)
    return out.transpose(1, 2).contiguous(), None


def _padded_layout(bounds: list[int], device: torch.device) -> tuple[torch.Tensor, int, int]:
    """Where each token of a packed row goes in a (samples × longest) layout, flattened.

    >>> _padded_layout([0, 3, 5], torch.device("cpu"))
    (tensor([0, 1, 2, 3, 4]), 2, 3)
    """
    lengths = [e - s for s, e in zip(bounds, bounds[1:])]
    longest = max(lengths)
    where = torch.cat([torch.arange(i * longest, i * longest + n) for i, n in enumerate(lengths)])
    return where.to(device), len(lengths), longest


def _to_rows(x: torch.Tensor, where: torch.Tensor, n: int, longest: int) -> torch.Tensor:
    """(1, heads, tokens, dim) packed -> (samples, heads, longest, dim), zeros after each sample."""
    rows = x.new_zeros(x.shape[1], n * longest, x.shape[3]).index_copy(1, where, x[0])
    return rows.view(x.shape[1], n, longest, x.shape[3]).transpose(0, 1)


def register() -> str:
    """Register :func:`packed_sdpa` with transformers (idempotent); returns its name."""
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, packed_sdpa)
    return NAME

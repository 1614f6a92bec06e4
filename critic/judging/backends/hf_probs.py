"""Next-token probabilities at the verdict point on a local checkpoint: one teacher-forced forward per batch.

For each request the model reads the prompt (chat template, images, as :meth:`HFBackend.encode`
builds it) followed by the generated text up to the verdict point (``context``, see
:mod:`critic.judging.verdict_probs`), and the last position's ``log_softmax`` is read at the token
each candidate verdict would begin with. Token boundaries come from the tokenizer, not from the
characters: ``ids(context)`` and ``ids(context + remainder_v)`` are compared and the forward stops at
``k``, the first index where any candidate's ids leave the context's, so the model is conditioned on
exactly the tokens every candidate shares and the next token is the one that tells them apart. The
result per request is ``[(logprob, [verdicts starting with that token])]``, one entry per distinct
token id — the masses :func:`critic.judging.verdict_probs.shares` takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from critic.judging.backends.generation import GenRequest
from critic.judging.verdict_probs import VerdictPoint


def _split(tok: Any, point: VerdictPoint) -> tuple[list[int], dict[str, int | None]]:
    """The context ids the forward reads and each candidate's deciding token id (None: none left)."""
    base = tok(point.context, add_special_tokens=False)["input_ids"]
    full = {v: tok(point.context + rem, add_special_tokens=False)["input_ids"] for v, rem in point.candidates.items()}

    def diverge(ids: list[int]) -> int:
        n = 0
        while n < min(len(ids), len(base)) and ids[n] == base[n]:
            n += 1
        return n

    k = min(diverge(ids) for ids in full.values())
    return base[:k], {v: (ids[k] if len(ids) > k else None) for v, ids in full.items()}


def verdict_masses(backend: Any, reqs: Sequence[GenRequest], points: Sequence[VerdictPoint]
                   ) -> list[list[tuple[float, list[str]]]]:
    """For each request, (probability, verdicts) per distinct deciding token (see the module doc)."""
    import torch

    batch = backend.encode(list(reqs))
    ids, mask = batch["input_ids"], batch["attention_mask"]
    splits = [_split(backend.tokenizer, p) for p in points]
    rows = [row[m.bool()].tolist() + ctx for row, m, (ctx, _) in zip(ids, mask, splits)]
    width = max(len(r) for r in rows)
    pad = backend.tokenizer.pad_token_id or 0
    new_ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=ids.device)
    new_mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=ids.device)
    inputs = {k: v for k, v in batch.items() if k not in ("input_ids", "attention_mask")
              and not (hasattr(v, "shape") and tuple(v.shape) == tuple(ids.shape))}  # per-token extras are not extended
    with torch.inference_mode():
        logits = backend.model(input_ids=new_ids, attention_mask=new_mask, **inputs).logits[:, -1, :]
    logp = torch.log_softmax(logits.float(), dim=-1)
    out = []
    for n, (_, heads) in enumerate(splits):
        groups: dict[int, list[str]] = {}
        for v, tid in heads.items():
            if tid is not None:
                groups.setdefault(tid, []).append(v)
        out.append([(float(logp[n, tid].exp()), vs) for tid, vs in groups.items()])
    return out


__all__ = ["verdict_masses"]

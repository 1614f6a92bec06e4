"""Micro-batches: padding-free packed rows, or padded batches, built from sample indices.

**Packed** (default): the samples of a micro-batch are concatenated into one row with their images;
``position_ids`` restart at 0 for each sample and no ``attention_mask`` is passed. transformers 5
then derives a block-diagonal causal mask from the position ids
(``masking_utils.find_packed_sequence_indices``: a new sequence starts wherever the position does
not grow by one) for the ``sdpa``, ``eager`` and ``flex_attention`` implementations, and flash
attention reads the same boundaries from the position ids. Each sample sees only itself: its
logits equal those it has alone (``tests/test_train_packing.py``). M-RoPE models (Qwen2-VL,
Qwen2.5-VL) get 4-row position ids: the per-sample text positions (used for the mask) on top of
the per-sample 3-D rope positions computed by the model's own ``get_rope_index``.

**Padded** (``data.packing: false``): one row per sample, right-padded to the longest in the
micro-batch, with an attention mask; the sampler groups samples of similar length.

Every batch also carries ``logits_to_keep``: the positions whose next token is learned. The model
then applies its output head only there (the prompt and image positions, most of a critic
sample, never reach the vocabulary projection), and :func:`critic_loss` reads the labels at those
positions + 1. A micro-batch with no image at all gets a dummy image segment (labels ``-100``) when
``dummy_image`` is on, so the vision tower runs on every rank.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from critic.training.data import TrainingData, load_images
from critic.training.encode import IGNORE, Encoded, SampleEncoder

STATS_KEY = "critic_stats"  # [real tokens, computed token slots, samples]; popped before the forward


class RopeIndex:
    """The model's own M-RoPE ``get_rope_index``, callable without the model's weights.

    Holds the model class and config only (picklable for DataLoader workers); the method reads
    nothing but the config and the class's helpers.
    """

    def __init__(self, model: Any):
        inner = getattr(model, "model", model)
        self.cls = type(inner)
        self.config = inner.config
        self._proxy: Any = None

    @staticmethod
    def wanted(model: Any) -> bool:
        return hasattr(getattr(model, "model", model), "get_rope_index")

    def __getstate__(self) -> dict[str, Any]:
        return {"cls": self.cls, "config": self.config, "_proxy": None}

    def __call__(self, seg: Encoded, grid: torch.Tensor | None) -> torch.Tensor:
        """(3, len(seg)) rope positions for one sample starting at 0."""
        n = len(seg)
        if grid is None or grid.numel() == 0:
            return torch.arange(n).view(1, -1).expand(3, -1)
        if self._proxy is None:
            proxy = self.cls.__new__(self.cls)
            object.__setattr__(proxy, "config", self.config)
            self._proxy = proxy
        types_ = seg.mm.get("mm_token_type_ids")
        pos, _ = self.cls.get_rope_index(self._proxy, seg.input_ids.view(1, -1), mm_token_type_ids=types_.view(1, -1),
                                         image_grid_thw=grid)
        return pos[:, 0]


def keep_positions(labels: torch.Tensor) -> torch.Tensor:
    """Positions ``t`` whose next token is learned in some row (never empty: ``[0]`` if none)."""
    learned = (labels[:, 1:] != IGNORE).any(dim=0)
    keep = learned.nonzero().flatten()
    return keep if keep.numel() else torch.zeros(1, dtype=torch.long)


def critic_loss(outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None) -> torch.Tensor:
    """Summed cross-entropy of the learned tokens, divided by the learned tokens of the whole
    accumulated (and, under data parallelism, global) batch that Trainer passes as ``num_items_in_batch``."""
    logits = outputs["logits"] if isinstance(outputs, dict) else outputs.logits
    keep = keep_positions(labels).to(labels.device)
    if logits.shape[1] != keep.numel():  # the model ignored logits_to_keep
        logits = logits[:, keep]
    targets = labels[:, keep + 1]
    loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
                           ignore_index=IGNORE, reduction="sum")
    denom = num_items_in_batch if num_items_in_batch is not None else (targets != IGNORE).sum().clamp(min=1)
    if torch.is_tensor(denom):
        denom = denom.to(loss.device)
    return loss / denom


def _cat_mm(segs: list[Encoded]) -> dict[str, torch.Tensor]:
    """Concatenate the image tensors of several samples along the image axis."""
    keys: list[str] = []
    for s in segs:
        keys += [k for k in s.mm if k not in keys and k != "mm_token_type_ids"]
    out: dict[str, torch.Tensor] = {}
    for k in keys:
        parts = [s.mm[k] for s in segs if k in s.mm]
        if k == "batch_num_images":
            parts = [s.mm.get(k, torch.tensor([0])) for s in segs]
        if parts[0].ndim >= 2 and len({p.shape[1:] for p in parts}) > 1:
            # LLaVA-OneVision: (images, patches, C, H, W) with a different patch count per sample;
            # pad the patch axis (the model keeps only each image's own patches, by image_sizes)
            width = max(p.shape[1] for p in parts)
            parts = [F.pad(p, [0, 0] * (p.ndim - 2) + [0, width - p.shape[1]]) for p in parts]
        out[k] = torch.cat(parts, dim=0)
    return out


class Collator:
    """Builds a model-ready micro-batch from dataset indices (runs in DataLoader workers too)."""

    def __init__(self, data: TrainingData, encoder: SampleEncoder, *, packing: bool = True,
                 dummy_image: bool = True, image_ablation: str = "none", rope_index: RopeIndex | None = None,
                 cache: bool = False, encoded: dict[int, Encoded] | None = None):
        self.data = data
        self.encoder = encoder
        self.packing = packing
        self.dummy_image = dummy_image
        self.image_ablation = image_ablation
        self.rope_index = rope_index
        self.length_mismatches = 0
        self._dummy: Encoded | None = None
        # ``encoded``: samples index_training_file already encoded (kept only when caching)
        self._cache: dict[int, Encoded] | None = dict(encoded or {}) if cache else None

    def encode(self, i: int) -> Encoded:
        if self._cache is not None and i in self._cache:
            return self._cache[i]
        sample = self.data.load(i)
        seg = self.encoder.encode(sample, load_images(sample.images, self.image_ablation))
        if len(seg) != self.data.refs[i].length:
            self.length_mismatches += 1
        if self._cache is not None:
            self._cache[i] = seg
        return seg

    def dummy(self) -> Encoded:
        if self._dummy is None:
            self._dummy = self.encoder.encode_dummy()
        return self._dummy

    def __call__(self, indices: list[int]) -> dict[str, Any]:
        segs = [self.encode(i) for i in indices]
        return self.build(segs)

    def build(self, segs: list[Encoded]) -> dict[str, Any]:
        real = sum(len(s) for s in segs)
        n = len(segs)
        if self.dummy_image and not any(s.n_images for s in segs):
            segs = [*segs, self.dummy()]
        batch = self._packed(segs) if self.packing else self._padded(segs)
        batch["logits_to_keep"] = keep_positions(batch["labels"])
        batch["use_cache"] = False
        batch[STATS_KEY] = torch.tensor([real, batch["input_ids"].numel(), n])
        return batch

    # -- packed ------------------------------------------------------------------------------
    def _packed(self, segs: list[Encoded]) -> dict[str, Any]:
        input_ids = torch.cat([s.input_ids for s in segs]).unsqueeze(0)
        labels = torch.cat([s.labels for s in segs]).unsqueeze(0)
        text_pos = torch.cat([torch.arange(len(s)) for s in segs]).unsqueeze(0)
        batch: dict[str, Any] = {"input_ids": input_ids, "labels": labels, **_cat_mm(segs)}
        if self.rope_index is not None:
            grids = self._grids_per_segment(segs)
            rope = torch.cat([self.rope_index(s, g) for s, g in zip(segs, grids)], dim=1)
            batch["position_ids"] = torch.cat([text_pos.unsqueeze(0), rope.unsqueeze(1)], dim=0)  # (4, 1, L)
        else:
            batch["position_ids"] = text_pos
        if any("mm_token_type_ids" in s.mm for s in segs):
            batch["mm_token_type_ids"] = torch.cat(
                [s.mm.get("mm_token_type_ids", torch.zeros(len(s), dtype=torch.long)) for s in segs]).unsqueeze(0)
        return batch

    @staticmethod
    def _grids_per_segment(segs: list[Encoded]) -> list[torch.Tensor | None]:
        return [s.mm.get("image_grid_thw") for s in segs]

    # -- padded ------------------------------------------------------------------------------
    def _padded(self, segs: list[Encoded]) -> dict[str, Any]:
        width = max(len(s) for s in segs)
        pad_id = self.encoder.pad_id

        def pad(t: torch.Tensor, value: int) -> torch.Tensor:
            return F.pad(t, [0, width - t.shape[0]], value=value)

        batch: dict[str, Any] = {
            "input_ids": torch.stack([pad(s.input_ids, pad_id) for s in segs]),
            "attention_mask": torch.stack([pad(torch.ones_like(s.input_ids), 0) for s in segs]),
            "labels": torch.stack([pad(s.labels, IGNORE) for s in segs]),
            **_cat_mm(segs),
        }
        if any("mm_token_type_ids" in s.mm for s in segs):
            batch["mm_token_type_ids"] = torch.stack(
                [pad(s.mm.get("mm_token_type_ids", torch.zeros(len(s), dtype=torch.long)), 0) for s in segs])
        return batch


def model_inputs(batch: dict[str, Any]) -> dict[str, Any]:
    """The batch without the keys the model does not take (labels, stats)."""
    return {k: v for k, v in batch.items() if k not in ("labels", STATS_KEY)}


__all__ = ["Collator", "RopeIndex", "critic_loss", "keep_positions", "load_images", "model_inputs", "STATS_KEY"]

"""Clips in a dataset build: an item's sampled frames stored as images and shown first, as the judge shows them.

A video item (``video``, ``num_frames``, ``fps``: :mod:`critic.video`) is judged with its sampled
frames as image parts at the start of the user turn, ahead of the item's images
(:mod:`critic.judging.video_inputs`). A dataset build does the same with stored files: the planner
decodes the frames once and writes each into the dataset's image store (content-hashed PNGs,
:func:`store_frames`); the teacher is sent those files first, and the training sample's
``images`` start with them while its user turn starts with as many image parts
(:func:`with_frames`). So training consumes the frames as images (every layout — JSONL, LLaVA,
HF — and the packing collator count them), exactly in the judge's order, and the sample keeps the
clip's reference (``video``, ``num_frames``, ``fps``) for whoever wants to resample it.

>>> msgs = [{"role": "system", "content": [{"type": "text", "text": "S"}]},
...         {"role": "user", "content": [{"type": "text", "text": "Q"}]}]
>>> [p["type"] for p in with_frames(msgs, ["f0.png", "f1.png"])[1]["content"]]
['image', 'image', 'text']
>>> with_frames(msgs, []) is msgs
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from critic.judging.video_inputs import frame_parts

if TYPE_CHECKING:
    from critic.data.writers import ImageStore


def store_frames(item: Any, store: ImageStore) -> list[str]:
    """The stored PNG paths of ``item``'s sampled frames, in time order ([] for an item without a clip).

    The clip obeys the store's pixel limit and image root; a missing, corrupt or empty clip raises
    :class:`~critic.media.MediaError` naming it (the planner drops the item).
    """
    if not getattr(item, "video", None):
        return []
    from critic.video import read_frames

    frames = read_frames(item.video, num_frames=item.num_frames, fps=item.fps, max_pixels=store.max_pixels,
                         root=store.image_root)
    return [store.add_pil(f) for f in frames]


def with_frames(messages: list[dict[str, Any]], frames: Sequence[str]) -> list[dict[str, Any]]:
    """``messages`` with one image part per frame at the start of the user turn (unchanged without frames)."""
    return frame_parts(messages, len(frames)) if frames else messages


def clip_fields(item: Any) -> dict[str, Any]:
    """The clip reference a training sample keeps: ``video``, ``num_frames``, ``fps`` (only those set)."""
    out = {k: getattr(item, k, None) for k in ("video", "num_frames", "fps")}
    return {k: v for k, v in out.items() if v is not None} if out["video"] else {}


__all__ = ["clip_fields", "store_frames", "with_frames"]

"""An item's clip in a judge request: its sampled frames shown first, hashed, and named in the cache key.

A template renders the item's text and images as it always does; when the item carries a ``video``
its sampled frames (:func:`critic.video.read_frames`) become image parts at the start of the user
turn, in time order, ahead of the item's images. Every backend takes that as it is: the
OpenAI-compatible one sends each frame as an image, a local model sees the frames as images. The
request's images are a :class:`critic.video.MediaList`, decoded when sent. The cache key gains a
``video`` part (the clip's bytes and the sampling, :func:`critic.video.video_key`); items without a
clip add nothing, so their keys are unchanged.

>>> msgs = [{"role": "user", "content": [{"type": "text", "text": "Q"}]}]
>>> frame_parts(msgs, 2)[0]["content"]
[{'type': 'image'}, {'type': 'image'}, {'type': 'text', 'text': 'Q'}]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from critic.media import LazyImages, image_hash
from critic.video import MediaList, read_frames, video_key


@dataclass
class VideoInputs:
    """What a request with a clip carries: messages with frame parts, the lazy media, hashes, key part."""

    messages: list[dict[str, Any]]
    media: MediaList
    hashes: list[str]
    key: dict[str, Any]


def frame_parts(messages: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    """``messages`` with ``n`` image parts put at the start of the (first) user turn."""
    out, done = [], False
    for msg in messages:
        if msg.get("role") == "user" and not done and isinstance(msg.get("content"), list):
            msg = {**msg, "content": [{"type": "image"} for _ in range(n)] + list(msg["content"])}
            done = True
        out.append(msg)
    if not done:
        out.append({"role": "user", "content": [{"type": "image"} for _ in range(n)]})
    return out


def video_inputs(item: Any, messages: list[dict[str, Any]], images: LazyImages, image_hashes: list[str]) -> VideoInputs:
    """The request parts for ``item``'s clip (raises :class:`~critic.media.MediaError` for a bad one).

    The frames are decoded once here, to hash them, and dropped.
    """
    frames = read_frames(item.video, num_frames=item.num_frames, fps=item.fps, max_pixels=images.max_pixels,
                         root=images.root)
    hashes = [image_hash(f) for f in frames]
    del frames
    media = MediaList(item.video, len(hashes), images, num_frames=item.num_frames, fps=item.fps)
    key = video_key(item.video, num_frames=item.num_frames, fps=item.fps, root=images.root)
    return VideoInputs(frame_parts(messages, len(hashes)), media, hashes + list(image_hashes), key)


__all__ = ["VideoInputs", "frame_parts", "video_inputs"]

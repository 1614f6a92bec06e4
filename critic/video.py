"""Videos in: uniform frame sampling, decoding with PyAV, and the identity of a clip in cache keys.

An item's ``video`` is a file (mp4, webm, gif, anything FFmpeg reads, decoded with PyAV — the
``video`` extra; torchvision is never needed) or a folder of frames (image files, taken in name
order, read with Pillow). ``num_frames`` (default :data:`DEFAULT_NUM_FRAMES`) and ``fps`` choose
the frames (:func:`frame_count`, :func:`sample_indices`); every frame is bounded by the same pixel
limit and image root as images (:mod:`critic.media`). Anything wrong — a missing, corrupt or
empty clip, PyAV not installed — is a :class:`~critic.media.MediaError` naming the path, so one bad
clip is one failed item.

* :func:`sample_indices` picks ``n`` of ``total`` frames uniformly: the middle frame of each of
  ``n`` equal segments, so a clip's first and last segments are both seen.
* :func:`read_frames` decodes exactly those frames as RGB images.
* :func:`video_key` is what goes into a cache key: the SHA-256 of the file's bytes (of every frame
  file's name and bytes for a folder) plus the sampling (``num_frames``, ``fps``).
* :class:`MediaList` is a request's visual inputs, decoded when read: the sampled frames, then the
  images. Iterating decodes the clip once; it holds no pixels between reads.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, overload

from PIL import Image

from critic.media import (
    DEFAULT_MAX_IMAGE_PIXELS,
    LazyImages,
    MediaError,
    check_inside,
    check_pixels,
    load_image,
)

#: Frames sampled from a clip when neither ``num_frames`` nor ``fps`` is given.
DEFAULT_NUM_FRAMES = 8
#: Image files a folder of frames may hold (other files are ignored).
FRAME_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"})


def frame_count(total: int, *, num_frames: int | None = None, fps: float | None = None,
                source_fps: float | None = None) -> int:
    """How many frames to sample from a clip of ``total`` frames.

    ``fps`` asks for that many frames per second of the clip (it needs the clip's own rate,
    ``source_fps``); ``num_frames`` caps the count (alone, it is the count). Never more than
    ``total``, never fewer than one.

    >>> frame_count(100)
    8
    >>> frame_count(100, fps=2, source_fps=25)   # 4 s of clip at 2 frames a second
    8
    >>> frame_count(100, fps=2, source_fps=25, num_frames=4)
    4
    >>> frame_count(5, num_frames=8)
    5
    """
    if total < 1:
        raise ValueError("a clip needs at least one frame")
    if fps is not None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if not source_fps:
            raise ValueError("fps needs the clip's own frame rate (a folder of frames has none: use num_frames)")
        n = max(1, math.ceil(total / source_fps * fps))
        if num_frames is not None:
            n = min(n, num_frames)
    else:
        n = DEFAULT_NUM_FRAMES if num_frames is None else num_frames
    if n < 1:
        raise ValueError(f"num_frames must be at least 1, got {n}")
    return min(n, total)


def sample_indices(total: int, n: int) -> list[int]:
    """``n`` frame indices out of ``total``, uniformly: the middle frame of each of ``n`` equal segments.

    Index ``i`` is ``floor((i + 0.5) * total / n)``; with ``n >= total`` every frame is taken once.

    >>> sample_indices(10, 4)      # segments of 2.5 frames: middles at 1.25, 3.75, 6.25, 8.75
    [1, 3, 6, 8]
    >>> sample_indices(100, 8)
    [6, 18, 31, 43, 56, 68, 81, 93]
    >>> sample_indices(3, 8)
    [0, 1, 2]
    >>> sample_indices(1, 1)
    [0]
    """
    if total < 1 or n < 1:
        raise ValueError("total and n must be at least 1")
    n = min(n, total)
    return [math.floor((i + 0.5) * total / n) for i in range(n)]


def _folder_frames(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES)


def _checked_path(src: str | Path, root: str | Path | None) -> Path:
    path = Path(src)
    check_inside(path, root)
    if not path.exists():
        raise MediaError(path, "no such video file or folder")
    return path


def _av() -> Any:
    try:
        import av
    except ModuleNotFoundError:
        raise MediaError("video", "reading a video file needs PyAV: pip install 'critic[video]' "
                                  "(or give a folder of frames)") from None
    return av


def _decode_file(path: Path, num_frames: int | None, fps: float | None, max_pixels: int | None) -> list[Image.Image]:
    av = _av()
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(path, "no video stream")
            stream = container.streams.video[0]
            check_pixels((stream.codec_context.width, stream.codec_context.height), path, max_pixels)
            rate = stream.average_rate or stream.guessed_rate
            # count frames by their packets (no decoding): container headers are often wrong or 0
            total = sum(1 for p in container.demux(stream) if p.size)
            if total < 1:
                raise MediaError(path, "the video has no frames")
            want = sample_indices(total, frame_count(total, num_frames=num_frames, fps=fps,
                                                     source_fps=float(rate) if rate else None))
            container.seek(0, stream=stream)
            frames: list[Image.Image] = []
            wanted = set(want)
            for k, frame in enumerate(container.decode(stream)):
                if k in wanted:
                    check_pixels((frame.width, frame.height), path, max_pixels)
                    frames.append(frame.to_image().convert("RGB"))
                if k >= want[-1]:
                    break
    except MediaError:
        raise
    except av.error.FFmpegError as exc:  # some are ValueErrors too: caught before frame_count's
        raise MediaError(path, f"unreadable video ({exc})") from None
    except ValueError as exc:  # frame_count's complaints
        raise MediaError(path, str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - PyAV / FFmpeg errors of every kind: a corrupt clip
        raise MediaError(path, f"unreadable video ({type(exc).__name__}: {exc})") from None
    if len(frames) != len(want):
        raise MediaError(path, f"unreadable video (decoded {len(frames)} of the {len(want)} sampled frames)")
    return frames


def read_frames(src: str | Path, *, num_frames: int | None = None, fps: float | None = None,
                max_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS, root: str | Path | None = None) -> list[Image.Image]:
    """The sampled frames of the clip ``src`` (a video file or a folder of frames) as RGB images, in order."""
    path = _checked_path(src, root)
    if path.is_dir():
        files = _folder_frames(path)
        if not files:
            raise MediaError(path, "the frame folder holds no image files")
        try:
            want = sample_indices(len(files), frame_count(len(files), num_frames=num_frames, fps=fps))
        except ValueError as exc:
            raise MediaError(path, str(exc)) from None
        return [load_image(files[i], max_pixels=max_pixels, root=root) for i in want]
    return _decode_file(path, num_frames, fps, max_pixels)


def video_key(src: str | Path, *, num_frames: int | None = None, fps: float | None = None,
              root: str | Path | None = None) -> dict[str, Any]:
    """What identifies a clip and its sampling in a cache key: ``{"sha256", "num_frames", "fps"}``."""
    path = _checked_path(src, root)
    h = hashlib.sha256()
    try:
        if path.is_dir():
            for f in _folder_frames(path):
                h.update(f.name.encode() + b"\0")
                h.update(hashlib.sha256(f.read_bytes()).digest())
        else:
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
    except OSError as exc:
        raise MediaError(path, f"cannot read ({exc.strerror or exc})") from exc
    return {"sha256": h.hexdigest(), "num_frames": num_frames, "fps": fps}


class MediaList(Sequence[Image.Image]):
    """A request's visual inputs, decoded when read: ``n_frames`` sampled frames of a clip, then images.

    Iterating decodes the clip once; indexing a frame decodes the clip for that read. Nothing is
    held between reads, so a run holds the pixels of the requests in flight only (as
    :class:`~critic.media.LazyImages` does for images).
    """

    def __init__(self, video: str | Path, n_frames: int, images: LazyImages, *, num_frames: int | None = None,
                 fps: float | None = None) -> None:
        self.video = video
        self.n_frames = n_frames
        self.images = images
        self.num_frames = num_frames
        self.fps = fps

    def frames(self) -> list[Image.Image]:
        """The sampled frames (decoded now)."""
        return read_frames(self.video, num_frames=self.num_frames, fps=self.fps,
                           max_pixels=self.images.max_pixels, root=self.images.root)

    def __len__(self) -> int:
        return self.n_frames + len(self.images)

    def __iter__(self) -> Iterator[Image.Image]:
        yield from self.frames()
        yield from (self.images[i] for i in range(len(self.images)))

    @overload
    def __getitem__(self, i: int) -> Image.Image: ...
    @overload
    def __getitem__(self, i: slice) -> list[Image.Image]: ...
    def __getitem__(self, i: int | slice) -> Image.Image | list[Image.Image]:
        if isinstance(i, slice):
            return list(self)[i]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self.frames()[i] if i < self.n_frames else self.images[i - self.n_frames]


__all__ = ["DEFAULT_NUM_FRAMES", "MediaList", "frame_count", "read_frames", "sample_indices", "video_key"]

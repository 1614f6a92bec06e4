"""Images in and out: loading, content hashing and data-URL encoding for remote models.

* :func:`load_image` reads a path (or a PIL image, or a ``data:`` URL) into an RGB image, applying
  the EXIF orientation and compositing transparency onto white. Anything wrong raises
  :class:`MediaError` whose message starts with the offending path.
* :func:`image_hash` is the identity of a picture in caches. It hashes the **decoded pixels**, not the
  file bytes: ``sha256(b"rgb:<W>x<H>:" + RGB bytes)``. Decoding costs a little more than hashing a
  file, but every image is decoded anyway before it is sent, and the hash is then the same whether
  the caller holds a path or an in-memory ``PIL.Image`` (the judge only has the latter), and the
  same when a file is re-saved losslessly or has its metadata stripped.
* :func:`to_data_url` encodes an image for the chat-completions ``image_url`` part; the bytes are
  deterministic (same image and arguments, same URL), so prompts hash stably.
* :func:`decode_data_url` is its inverse (the loopback chat server and the oracle teacher use it).
* Every decode is bounded: an image of more than ``max_pixels`` pixels (default
  :data:`DEFAULT_MAX_IMAGE_PIXELS`, 50 MP; ``--max-image-pixels``) is a :class:`MediaError` read from
  its header, before any pixel is decoded — a 1 MB PNG of 20000 x 20000 would otherwise take 1.2 GB
  (Pillow's own ``DecompressionBombError`` is turned into the same error). ``root`` confines paths
  to one folder (:func:`check_inside`, ``--image-root``). :class:`LazyImages` holds where images
  come from and decodes them when they are read, so a run holds the pixels of the requests in
  flight only.

Size defaults follow what OpenAI documents for image inputs: up to 20 MB per image (50 MB per
request in total); with ``detail="high"`` the image is first fitted inside 2048 x 2048 and then
scaled so its short side is 768 px, so longer sides beyond 2048 only cost bandwidth. ``max_side=1536``
keeps every pixel the API would use for images up to 2:1, and ``max_bytes=4_000_000`` (before
base64, which adds a third) keeps a request with a few images well inside the 20/50 MB limits and
inside the default body limits of vLLM / SGLang front-ends and proxies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, overload

from PIL import Image, ImageOps, UnidentifiedImageError

ImageFormat = Literal["PNG", "JPEG", "auto"]
_JPEG_QUALITIES = (95, 90, 85, 80, 70, 60, 50, 40)
_MIME = {"PNG": "image/png", "JPEG": "image/jpeg"}
#: Largest image (width x height) decoded by default: 50 MP, 150 MB of RGB pixels.
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000


class MediaError(ValueError):
    """An image that cannot be used; ``path`` names it (a file path or a shortened data URL)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB copy of ``img``: EXIF rotation applied, alpha composited onto white."""
    src = img
    img = ImageOps.exif_transpose(img)  # a new image (Pillow returns a copy even without EXIF)
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if img.mode != "RGB":
        return img.convert("RGB")
    return img.copy() if img is src else img


def check_pixels(size: tuple[int, int], name: str | Path, max_pixels: int | None) -> None:
    """Raise :class:`MediaError` when an image of ``size`` has more than ``max_pixels`` pixels (None: no limit).

    >>> check_pixels((20000, 20000), "big.png", 50_000_000)
    Traceback (most recent call last):
    ...
    critic.media.MediaError: big.png: image too large: 20000x20000 = 400.0 MP, over the limit of 50.0 MP (--max-image-pixels)
    """
    w, h = size
    if max_pixels is not None and w * h > max_pixels:
        raise MediaError(name, f"image too large: {w}x{h} = {w * h / 1e6:.1f} MP, over the limit of "
                               f"{max_pixels / 1e6:.1f} MP (--max-image-pixels)")


def _open_bytes(data: bytes, name: str, max_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data)) as im:
            check_pixels(im.size, name, max_pixels)  # from the header: nothing decoded yet
            im.load()
            return _to_rgb(im)
    except UnidentifiedImageError:
        raise MediaError(name, "not an image (Pillow cannot identify the format)") from None
    except Image.DecompressionBombError as exc:
        raise MediaError(name, f"image too large ({exc})") from None
    except MediaError:
        raise
    except (OSError, SyntaxError, ValueError) as exc:
        raise MediaError(name, f"unreadable image ({exc})") from exc


def check_inside(path: str | Path, root: str | Path | None) -> None:
    """Raise :class:`MediaError` unless ``path`` (symlinks resolved) lies inside the folder ``root``.

    ``root`` None allows any path. The check is on the resolved path, so ``../`` and links out of
    the folder are refused alike.

    >>> check_inside("/data/imgs/a.png", "/data/imgs")
    >>> check_inside("/data/imgs/../secret.png", "/data/imgs")
    Traceback (most recent call last):
    ...
    critic.media.MediaError: /data/imgs/../secret.png: outside the image root /data/imgs (--image-root)
    """
    if root is None:
        return
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if real != real_root and not real.startswith(os.path.join(real_root, "")):
        raise MediaError(path, f"outside the image root {root} (--image-root)")


def load_image(src: str | Path | Image.Image, *, max_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS,
               root: str | Path | None = None) -> Image.Image:
    """Load ``src`` as an RGB image.

    ``src`` is a file path, a ``data:image/...;base64,...`` URL or a PIL image (converted, never
    modified in place). Raises :class:`MediaError` naming the path when the file is missing, is not
    an image, is truncated / corrupt, has more than ``max_pixels`` pixels, or lies outside ``root``
    (a folder; None allows any path; data URLs and PIL images are not paths and always allowed).
    """
    if isinstance(src, Image.Image):
        return _to_rgb(src)
    if isinstance(src, str) and src.startswith("data:"):
        return decode_data_url(src, max_pixels=max_pixels)
    path = Path(src)
    check_inside(path, root)
    if not path.exists():
        raise MediaError(path, "no such file")
    if not path.is_file():
        raise MediaError(path, "not a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MediaError(path, f"cannot read ({exc.strerror or exc})") from exc
    return _open_bytes(data, str(path), max_pixels)


class LazyImages(Sequence[Image.Image]):
    """Images decoded when read: ``images[i]`` is :func:`load_image` of ``sources[i]``, every time.

    A request holds one of these instead of pixels, so a run of N items holds the pixels of the
    requests being sent, not of all N (four items of a 10000 x 10000 PNG held 3.8 GB before).
    """

    def __init__(self, sources: Sequence[str | Path | Image.Image], *,
                 max_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS, root: str | Path | None = None) -> None:
        self.sources = list(sources)
        self.max_pixels = max_pixels
        self.root = root

    def __len__(self) -> int:
        return len(self.sources)

    @overload
    def __getitem__(self, i: int) -> Image.Image: ...
    @overload
    def __getitem__(self, i: slice) -> list[Image.Image]: ...
    def __getitem__(self, i: int | slice) -> Image.Image | list[Image.Image]:
        if isinstance(i, slice):
            return [self[k] for k in range(len(self))[i]]
        return load_image(self.sources[i], max_pixels=self.max_pixels, root=self.root)


def image_hash(img: str | Path | Image.Image) -> str:
    """sha256 hex of the decoded RGB pixels and size: ``sha256(b"rgb:WxH:" + pixels)``.

    A path and the image loaded from it hash the same; so do two files holding the same pixels.
    """
    rgb = img if isinstance(img, Image.Image) and img.mode == "RGB" else load_image(img)  # no copy of RGB
    h = hashlib.sha256(f"rgb:{rgb.width}x{rgb.height}:".encode())
    h.update(rgb.tobytes())
    return h.hexdigest()


def fit_within(img: Image.Image, max_side: int) -> Image.Image:
    """``img`` scaled down (aspect kept, Lanczos) so that its longest side is at most ``max_side``.

    New size: ``(max(1, round(W*s)), max(1, round(H*s)))`` with ``s = max_side / max(W, H)``;
    images already small enough are returned unchanged.
    """
    w, h = img.size
    if max(w, h) <= max_side:
        return img
    s = max_side / max(w, h)
    return img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.LANCZOS)


def fit_pixels(img: Image.Image, max_pixels: int) -> Image.Image:
    """``img`` scaled down (aspect kept, Lanczos) to at most ``max_pixels`` pixels; smaller ones unchanged.

    >>> fit_pixels(Image.new("RGB", (4000, 1000)), 1_000_000).size
    (2000, 500)
    """
    w, h = img.size
    if w * h <= max_pixels:
        return img
    s = (max_pixels / (w * h)) ** 0.5
    return img.resize((max(1, int(w * s)), max(1, int(h * s))), Image.Resampling.LANCZOS)


def _encode(img: Image.Image, fmt: str, quality: int = 95) -> bytes:
    buf = io.BytesIO()
    if fmt == "PNG":
        img.save(buf, format="PNG", optimize=False, compress_level=6)
    else:
        img.save(buf, format="JPEG", quality=quality, optimize=False, subsampling=0 if quality >= 90 else 2)
    return buf.getvalue()


def encode_image(
    img: Image.Image | str | Path,
    *,
    max_side: int = 1536,
    max_bytes: int = 4_000_000,
    format: ImageFormat = "auto",
) -> tuple[bytes, str]:
    """Encoded bytes and MIME type of ``img`` for sending to a model (see :func:`to_data_url`)."""
    if max_side < 1 or max_bytes < 1:
        raise ValueError("max_side and max_bytes must be positive")
    rgb = fit_within(load_image(img), max_side)
    if format in ("PNG", "auto"):
        data = _encode(rgb, "PNG")
        if len(data) <= max_bytes:
            return data, _MIME["PNG"]
    elif format != "JPEG":
        raise ValueError(f"format must be 'PNG', 'JPEG' or 'auto', not {format!r}")
    while True:
        for q in _JPEG_QUALITIES:
            data = _encode(rgb, "JPEG", q)
            if len(data) <= max_bytes:
                return data, _MIME["JPEG"]
        if max(rgb.size) <= 16:
            raise ValueError(f"cannot encode the image under {max_bytes} bytes")
        rgb = fit_within(rgb, max(16, int(max(rgb.size) * 0.75)))


def to_data_url(
    img: Image.Image | str | Path,
    *,
    max_side: int = 1536,
    max_bytes: int = 4_000_000,
    format: ImageFormat = "auto",
) -> str:
    """``data:<mime>;base64,<bytes>`` for ``img``, ready for an ``image_url`` content part.

    1. The image is scaled down (aspect kept) when its longest side exceeds ``max_side``.
    2. ``format="auto"`` or ``"PNG"``: lossless PNG if it fits in ``max_bytes``.
    3. Otherwise (or with ``format="JPEG"``): JPEG at quality 95, 90, 85, 80, 70, 60, 50, 40 — the
       first that fits; if none does, the image shrinks by a quarter and step 3 repeats.

    Encoding is deterministic: the same pixels and arguments give the same URL.
    """
    data, mime = encode_image(img, max_side=max_side, max_bytes=max_bytes, format=format)
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def decode_data_url(url: str, *, max_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS) -> Image.Image:
    """The RGB image inside a ``data:image/...;base64,...`` URL (:class:`MediaError` if it is not one)."""
    name = url[:40] + ("..." if len(url) > 40 else "")
    if not url.startswith("data:"):
        raise MediaError(name, "not a data URL")
    header, sep, payload = url.partition(",")
    if not sep or not header.endswith(";base64"):
        raise MediaError(name, "data URL is not base64-encoded")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MediaError(name, f"bad base64 payload ({exc})") from exc
    return _open_bytes(data, name, max_pixels)

"""What a request may do: its size, its images, its token.

* The body is read up to ``max_body_bytes`` and no further (413 past it).
* An image is a ``data:image/...;base64,`` URL (at most ``max_image_bytes`` of payload, at most
  ``max_image_pixels`` pixels, checked from the header before decoding) or a path that is read only
  when the server has an image root and the path, links resolved, lies inside it. Anything else is a
  :class:`RequestError` (400) raised *before* any file is opened.
* With a token set, every route but ``/health`` needs ``Authorization: Bearer <token>`` (401). The
  comparison is constant-time; the token is never logged or echoed.

>>> limits = Limits(image_root=None)
>>> resolve_image("/etc/passwd", limits)
Traceback (most recent call last):
...
critic.serving.security.RequestError: image paths are not accepted: the server has no --image-root (send data URLs)
>>> check_token("Bearer s3cret", "s3cret"), check_token("Bearer nope", "s3cret"), check_token(None, None)
(True, False, True)
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from critic.media import MediaError, check_inside, decode_data_url, load_image

DEFAULT_MAX_BODY = 64 * 1024 * 1024
DEFAULT_MAX_IMAGE_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_IMAGE_PIXELS = 50_000_000


class RequestError(ValueError):
    """A request the server refuses: ``status`` is the HTTP status (400 unless said otherwise)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    """The server's limits; ``image_root`` None means no image path is ever read."""

    max_body_bytes: int = DEFAULT_MAX_BODY
    max_image_bytes: int = DEFAULT_MAX_IMAGE_BYTES
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    image_root: str | None = None
    max_images_per_item: int = 16


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` serves this machine only (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_token(header: str | None, token: str | None) -> bool:
    """Whether an ``Authorization`` header carries ``token`` (always true when no token is set)."""
    if token is None:
        return True
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer "):].strip().encode(), token.encode())


def resolve_image(ref: str, limits: Limits) -> Image.Image:
    """The image a request names, decoded within the limits; :class:`RequestError` when refused.

    A path is checked (inside the root, links resolved) before it is opened, so a refused path is
    never read.
    """
    if not isinstance(ref, str) or not ref:
        raise RequestError("an image must be a data URL or a path")
    try:
        if ref.startswith("data:"):
            # base64 is 4/3 of the bytes: the payload's length bounds the decoded size without decoding
            if (len(ref) - ref.find(",") - 1) * 3 // 4 > limits.max_image_bytes:
                raise RequestError(f"image over {limits.max_image_bytes} bytes", 413)
            return decode_data_url(ref, max_pixels=limits.max_image_pixels)
        if limits.image_root is None:
            raise RequestError("image paths are not accepted: the server has no --image-root (send data URLs)")
        path = Path(limits.image_root, ref) if not os.path.isabs(ref) else Path(ref)
        check_inside(path, limits.image_root)
        if path.is_file() and path.stat().st_size > limits.max_image_bytes:
            raise RequestError(f"image {ref}: over {limits.max_image_bytes} bytes", 413)
        return load_image(path, max_pixels=limits.max_image_pixels, root=limits.image_root)
    except MediaError as exc:
        status = 413 if "too large" in exc.reason else 400
        raise RequestError(f"image {_short(ref)}: {exc.reason}", status) from None


def resolve_images(refs: list[str], limits: Limits) -> list[Image.Image]:
    if len(refs) > limits.max_images_per_item:
        raise RequestError(f"{len(refs)} images in one item; at most {limits.max_images_per_item}")
    return [resolve_image(r, limits) for r in refs]


def _short(ref: str) -> str:
    return ref[:40] + "..." if len(ref) > 40 else ref

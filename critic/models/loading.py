"""Loading models and processors with transformers, the same way for tiny and real checkpoints.

transformers 5 declares a video processor on the LLaVA-OneVision and Qwen2-VL processors, and every
video processor requires torchvision. Critics judge images, so where torchvision is not installed
:func:`load_processor` falls back to the same processor class with the video processor left out
(:func:`image_only`). Everything else — tokenizer, image processor, chat template — is what
``AutoProcessor`` would load. No other library offers this, hence the hand-written fallback.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def torchvision_available() -> bool:
    return importlib.util.find_spec("torchvision") is not None


@functools.cache
def image_only(cls: type) -> type:
    """A subclass of processor class ``cls`` whose sub-processors exclude the video processor.

    It saves and loads like ``cls`` (same ``processor_class`` name on disk), so a checkpoint
    written through it loads with ``AutoProcessor`` where torchvision is installed.
    """

    class ImageOnly(cls):  # type: ignore[misc, valid-type]
        @classmethod
        def get_attributes(klass) -> list[str]:
            return [a for a in super().get_attributes() if a != "video_processor"]

    ImageOnly.__name__ = cls.__name__
    ImageOnly.__qualname__ = cls.__qualname__
    ImageOnly.__doc__ = f"{cls.__name__} without its video processor (torchvision-free)."
    return ImageOnly


def _processor_class_name(path: Path) -> str | None:
    for name in ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json"):
        f = path / name
        if f.is_file():
            cls = json.loads(f.read_text()).get("processor_class")
            if cls:
                return cls
    return None


def load_processor(name_or_path: str | Path, *, trust_remote_code: bool = False, **kwargs: Any):
    """``AutoProcessor.from_pretrained``, with the image-only fallback described above."""
    import transformers
    from transformers import AutoProcessor

    try:
        return AutoProcessor.from_pretrained(name_or_path, trust_remote_code=trust_remote_code, **kwargs)
    except (OSError, ValueError, ImportError, TypeError) as exc:
        path = Path(name_or_path)
        cls_name = _processor_class_name(path) if path.is_dir() else None
        if torchvision_available() or cls_name is None or not hasattr(transformers, cls_name):
            raise
        try:
            return image_only(getattr(transformers, cls_name)).from_pretrained(name_or_path, **kwargs)
        except Exception:
            raise exc from None


class ModelLoadError(OSError):
    """A checkpoint whose files cannot be read (the message names the folder and what to check)."""


@contextlib.contextmanager
def reading_weights(name_or_path: str | Path) -> Iterator[None]:
    """Turn safetensors' own error (a truncated or corrupt weights file) into :class:`ModelLoadError`."""
    from safetensors import SafetensorError

    try:
        yield
    except SafetensorError as exc:
        raise ModelLoadError(f"{name_or_path}: cannot read the weights (is a .safetensors file truncated or "
                             f"corrupt? copy or save the checkpoint again): {exc}") from None


def load_model(
    name_or_path: str | Path,
    *,
    dtype: str | None = "auto",
    device: str | None = None,
    trust_remote_code: bool = False,
    **kwargs: Any,
):
    """``AutoModelForImageTextToText.from_pretrained`` from safetensors only, in eval mode.

    ``dtype`` is ``"auto"`` (the checkpoint's), or a torch dtype name such as ``"bfloat16"``.
    """
    import torch
    from transformers import AutoModelForImageTextToText

    torch_dtype: Any = dtype
    if dtype not in (None, "auto"):
        torch_dtype = getattr(torch, dtype)
    with reading_weights(name_or_path):
        model = AutoModelForImageTextToText.from_pretrained(
            name_or_path,
            dtype=torch_dtype,
            use_safetensors=True,
            trust_remote_code=trust_remote_code,
            **kwargs,
        )
    if device:
        model.to(device)
    model.eval()
    return model

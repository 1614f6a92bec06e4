"""Optional dependency groups (``pip install 'critic[hf]'``) and the one check that a command's group is installed.

The core install (templates, records, the OpenAI-compatible judge, evaluation and reports, the
judgment browser, the server in front of a remote judge, the oracle teacher) needs neither torch nor
transformers. Everything else lives in an extra named in ``pyproject.toml``; a command that needs one
calls :func:`require` before it starts work, and ``critic`` turns :class:`MissingExtra` (also raised
for a ``ModuleNotFoundError`` of an extra's module, see :func:`extra_for`) into one line and exit 2:

>>> extra_for("torch"), extra_for("trl"), extra_for("jinja2")
('hf', 'dpo', None)
>>> str(MissingExtra("dpo", "critic dpo", ["trl"]))
"critic dpo needs the dpo extra (missing: trl): pip install 'critic[dpo]'"
"""

from __future__ import annotations

import importlib.util

#: extra -> the top-level modules it provides (checked, in this order, by :func:`require`).
EXTRAS: dict[str, tuple[str, ...]] = {
    "hf": ("torch", "transformers", "tokenizers", "safetensors", "huggingface_hub"),
    "data": ("datasets", "pyarrow"),
    "train": ("torch", "transformers", "accelerate", "datasets", "pyarrow"),
    "dpo": ("trl", "peft"),
    "lora": ("peft",),
    "deepspeed": ("deepspeed",),
    "video": ("av",),
}
#: module -> the smallest extra that installs it (for a ModuleNotFoundError raised deep inside a stage).
_OWNER = {"torch": "hf", "transformers": "hf", "tokenizers": "hf", "safetensors": "hf", "huggingface_hub": "hf",
          "datasets": "data", "pyarrow": "data", "accelerate": "train", "trl": "dpo", "peft": "lora",
          "deepspeed": "deepspeed", "av": "video"}


class MissingExtra(ImportError):
    """A command needs an extra that is not installed; the message says what to install."""

    def __init__(self, extra: str, what: str, missing: list[str]):
        self.extra, self.what, self.missing = extra, what, missing
        super().__init__(f"{what} needs the {extra} extra (missing: {', '.join(missing)}): "
                         f"pip install 'critic[{extra}]'")


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here (found without importing them)."""
    return [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]


def require(*extras: str, what: str = "this command") -> None:
    """Raise :class:`MissingExtra` for the first of ``extras`` not fully installed; cheap (nothing is imported)."""
    for extra in extras:
        gone = missing(extra)
        if gone:
            raise MissingExtra(extra, what, gone)


def extra_for(module: str | None) -> str | None:
    """The extra that installs top-level module ``module`` (``torch.nn`` counts as ``torch``), else None."""
    return _OWNER.get((module or "").split(".")[0])

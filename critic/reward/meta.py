"""What a checkpoint's ``critic.json`` says about reward models, read without torch.

``kind``: ``generative`` (a LLaVA-Critic-style critic; also what a checkpoint recording no kind is),
``scalar`` or ``critique_score``; ``reward``: the head's settings and the reward mean / std.

>>> checkpoint_kind("no/such/folder")
'generative'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CRITIC_META = "critic.json"
HEAD_FILE = "reward_head.safetensors"
KINDS: tuple[str, ...] = ("scalar", "critique_score")
#: Every kind a checkpoint's ``critic.json`` may record.
CHECKPOINT_KINDS: tuple[str, ...] = ("generative", *KINDS)


def checkpoint_kind(path: str | Path) -> str:
    """The judge kind a checkpoint folder records (``generative`` when it records none, or is no folder)."""
    meta = Path(path) / CRITIC_META
    if not meta.is_file():
        return "generative"
    try:
        kind = json.loads(meta.read_text(encoding="utf-8")).get("kind") or "generative"
    except (OSError, ValueError):
        return "generative"
    if kind not in CHECKPOINT_KINDS:
        raise ValueError(f"{meta}: unknown kind {kind!r} (known: {', '.join(CHECKPOINT_KINDS)})")
    return kind


def reward_meta(path: str | Path) -> dict[str, Any]:
    """``critic.json``'s ``reward`` section (head settings, reward mean / std)."""
    data = json.loads((Path(path) / CRITIC_META).read_text(encoding="utf-8"))
    return dict(data.get("reward") or {})

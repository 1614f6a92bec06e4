"""OpenRLHF's remote reward model: ``POST /get_reward`` answered by a generative critic.

OpenRLHF's client (``openrlhf/utils/agent.py``, ``SingleTurnAgentExecutor``) sends one sample per
request: ``query`` is the decoded prompt + response token ids with special tokens kept (left
padding included), ``prompts`` the chat-templated prompt, ``labels`` the dataset's ``--label_key``
value, and no images. The server therefore

* finds the item from the label: an id of the ``--items`` file (id → images, question, reference),
  or a JSON object carrying ``images`` / ``question`` / ``reference`` (a string holding one, too);
* cuts the response out of the query: the text after the prompt (else after the last assistant
  marker of a known chat template), leading padding and trailing special tokens (end of turn, EOS,
  padding) stripped — the known markers, and every special token of ``--policy-tokenizer`` when given;
* takes the question from the item, else from the prompt's last user turn.

>>> q = "<pad><|im_start|>user\\n<image>\\nWhat colour?<|im_end|>\\n<|im_start|>assistant\\nRed.<|im_end|><|endoftext|>"
>>> p = "<|im_start|>user\\n<image>\\nWhat colour?<|im_end|>\\n<|im_start|>assistant\\n"
>>> response_text(q, p)
'Red.'
>>> response_text(q, None), question_from_prompt(p)
('Red.', 'What colour?')
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from critic.rows import read_rows

#: End-of-turn, end-of-text and padding tokens of common chat templates.
KNOWN_SPECIAL = ("<|im_end|>", "<|endoftext|>", "</s>", "<|eot_id|>", "<|end_of_text|>", "<end_of_turn>",
                 "<eos>", "<|end|>", "<pad>", "[PAD]", "<|eom_id|>", "<|end▁of▁sentence|>", "<｜end▁of▁sentence｜>",
                 "<|im_start|>", "<unk>")
#: Where the assistant's turn starts, for a query whose prompt was not sent or does not match.
ASSISTANT_MARKERS = ("<|im_start|>assistant\n", "<|start_header_id|>assistant<|end_header_id|>\n\n",
                     "<start_of_turn>model\n", "<|assistant|>\n", "[/INST]", "ASSISTANT:", "Assistant:")
_USER_TURN = re.compile(r"<\|im_start\|>user\n(.*?)<\|im_end\|>|<start_of_turn>user\n(.*?)<end_of_turn>|"
                        r"<\|start_header_id\|>user<\|end_header_id\|>\n\n(.*?)<\|eot_id\|>|USER:(.*?)ASSISTANT:",
                        re.S)
_PLACEHOLDERS = re.compile(r"<image>|<\|image_pad\|>|<\|vision_start\|>|<\|vision_end\|>|<\|[a-z_]+\|>")


@dataclass(frozen=True)
class ItemInfo:
    """What the server knows of a prompt: its images (trusted paths) and question."""

    id: str
    question: str | None = None
    images: tuple[str, ...] = ()
    reference: str | None = None
    trusted: bool = True  # images from the server's own items file, not from a request


class LabelError(ValueError):
    pass


@dataclass
class ItemIndex:
    """The ``--items`` file by id: JSONL lines with ``id``, ``question`` and optionally ``images``, ``reference``."""

    items: dict[str, ItemInfo] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> ItemIndex:
        path = Path(path)
        out: dict[str, ItemInfo] = {}
        for row in read_rows(path):  # the shared row reader: bad bytes, JSON arrays, file:line
            n = row.line
            try:
                if row.problem is not None or row.value is None:
                    raise ValueError(row.problem or "no value")
                data = row.value
                key = str(data["id"])
                images = tuple(str(p if Path(p).is_absolute() or str(p).startswith("data:") else path.parent / p)
                               for p in data.get("images") or [])
                out[key] = ItemInfo(key, data.get("question"), images, data.get("reference"))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{n}: not an item ({exc})") from None
        return cls(out)

    def resolve(self, label: Any, n: int) -> ItemInfo:
        """The item ``label`` names (see the module doc); an unknown id is a :class:`LabelError`."""
        if isinstance(label, str):
            text = label.strip()
            if text.startswith("{"):
                try:
                    label = json.loads(text)
                except ValueError:
                    raise LabelError(f"label {n}: not JSON: {text[:60]!r}") from None
            elif text in self.items:
                return self.items[text]
            elif text:
                raise LabelError(f"label {n}: no item {text!r} in --items" if self.items else
                                 f"label {n}: {text!r} names an item, but the server has no --items file")
        if isinstance(label, int) and not isinstance(label, bool) and str(label) in self.items:
            return self.items[str(label)]
        if isinstance(label, dict):
            base = self.items.get(str(label.get("id"))) if label.get("id") is not None else None
            images = label.get("images")
            if images is not None and (not isinstance(images, list) or not all(isinstance(i, str) for i in images)):
                raise LabelError(f"label {n}: images must be a list of strings")
            return ItemInfo(str(label.get("id") or (base.id if base else f"query-{n}")),
                            label.get("question") or (base.question if base else None),
                            tuple(images) if images is not None else (base.images if base else ()),
                            label.get("reference") or (base.reference if base else None),
                            trusted=images is None)
        if label is None or label == "":
            return ItemInfo(f"query-{n}")
        raise LabelError(f"label {n}: expected an item id or a JSON object, got {type(label).__name__}")


def _strip_leading(text: str, tokens: Iterable[str]) -> str:
    tokens = [t for t in tokens if t]
    changed = True
    while changed:
        changed = False
        for t in tokens:
            if text.startswith(t):
                text, changed = text[len(t):], True
    return text


def _strip_trailing(text: str, tokens: Iterable[str]) -> str:
    tokens = [t for t in tokens if t]
    changed = True
    while changed:
        changed = False
        text = text.rstrip()
        for t in tokens:
            if text.endswith(t):
                text, changed = text[: -len(t)], True
    return text


PADDING = ("<pad>", "[PAD]", "<|endoftext|>", "</s>", "<unk>", "<|end_of_text|>", "<eos>")


def response_text(query: str, prompt: str | None, special: Iterable[str] = KNOWN_SPECIAL,
                  padding: Iterable[str] = PADDING) -> str:
    """The policy's response inside ``query`` (see the module doc)."""
    special = tuple(special)
    query = _strip_leading(query, padding)
    if prompt:
        p = _strip_leading(prompt, padding)
        if query.startswith(p):
            return _strip_trailing(query[len(p):], special).strip()
        at = query.find(p.strip())
        if at >= 0:
            return _strip_trailing(query[at + len(p.strip()):], special).strip()
    cut = max(((query.rfind(m), m) for m in ASSISTANT_MARKERS), key=lambda x: x[0])
    body = query[cut[0] + len(cut[1]):] if cut[0] >= 0 else query
    return _strip_trailing(body, special).strip()


def question_from_prompt(prompt: str | None) -> str:
    """The last user turn of a chat-templated prompt, image placeholders and markers removed."""
    if not prompt:
        return ""
    turns = [next(g for g in m.groups() if g is not None) for m in _USER_TURN.finditer(prompt)]
    text = turns[-1] if turns else prompt
    return _PLACEHOLDERS.sub("", text).strip()


def tokenizer_specials(name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(special tokens, padding tokens) of the tokenizer ``name`` (``--policy-tokenizer``: a folder or a hub id).

    The special tokens are the named ones (EOS, padding, ...) and every token the tokenizer added as
    special: a policy's end of turn is often one of those and not its named EOS (Idefics2's
    ``<end_of_utterance>``, Llama 3's ``<|eom_id|>``). A tokenizer that cannot be loaded is a
    :class:`ValueError` naming it.
    """
    from transformers import AutoTokenizer

    folder = Path(name).expanduser()
    if not folder.is_dir() and (folder.is_absolute() or name.startswith((".", "~")) or name.count("/") > 1):
        raise ValueError(f"{name}: no such folder")
    try:
        tok = AutoTokenizer.from_pretrained(str(folder) if folder.is_dir() else name)
    except Exception as exc:  # noqa: BLE001 - transformers raises OSError, ValueError, ... for a folder without one
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"{name}: cannot load a tokenizer from it ({first})") from None
    added = [t.content for t in getattr(tok, "added_tokens_decoder", {}).values() if getattr(t, "special", False)]
    special = tuple(sorted(set(tok.all_special_tokens) | set(added) | set(KNOWN_SPECIAL), key=len, reverse=True))
    padding = tuple(dict.fromkeys(t for t in (tok.pad_token, tok.eos_token, *PADDING) if t))
    return special, padding

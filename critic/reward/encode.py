"""Encoding ``prompt + response [+ critique]`` for a reward model, and batching it.

A scalar reward model reads the sequence ``user(images, question) → assistant(response)`` and takes
its reward at the last token (the response's end-of-turn token). A critique-then-score model reads
``… → assistant(response) → user(CRITIQUE_PROMPT) → assistant(critique)``; the critique tokens are
the only language-model targets (labels −100 on prompt, response and image tokens) and the reward is
taken at the critique's end-of-turn token. Item text never becomes special tokens
(:mod:`critic.models.special_tokens`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from critic.models.special_tokens import escape_messages, special_strings

IGNORE = -100
CRITIQUE_PROMPT = "Critique the response above: what does the image show, and is the response right?"


@dataclass
class RewardEncoded:
    """One sequence: ids, labels (the critique's tokens, −100 elsewhere), response labels (the response's
    tokens where it is learned, ``reward.lm_weight``; else None) and the processor's image tensors."""

    input_ids: torch.Tensor
    labels: torch.Tensor
    mm: dict[str, torch.Tensor] = field(default_factory=dict)
    response_labels: torch.Tensor | None = None


def end_of_turn_ids(processor: Any, generation_config: Any = None) -> set[int]:
    """The generation config's ``eos_token_id`` (one or a list), else the tokenizer's eos."""
    eos = getattr(generation_config, "eos_token_id", None) if generation_config is not None else None
    ids = set(eos if isinstance(eos, list | tuple) else [eos]) if eos is not None else set()
    tok = getattr(processor, "tokenizer", processor)
    if not ids and tok.eos_token_id is not None:
        ids.add(int(tok.eos_token_id))
    return ids


def _find(seq: list[int], sub: list[int]) -> int:
    """Start of the first occurrence of ``sub`` in ``seq`` (-1 if none).

    >>> _find([5, 1, 2, 3, 1, 2], [1, 2]), _find([1, 2], [2, 1])
    (1, -1)
    """
    n = len(sub)
    return next((i for i in range(len(seq) - n + 1) if seq[i:i + n] == sub), -1) if n else -1


class RewardEncoder:
    """Encodes reward-model sequences for one processor."""

    def __init__(self, processor: Any, eos_ids: set[int]):
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.eos_ids = set(eos_ids)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else min(self.eos_ids)
        self.special = special_strings(processor)

    def prompt_messages(self, question: str, n_images: int, response: str | None = None) -> list[dict[str, Any]]:
        """The turns before the scored answer: the question, and with ``response`` the critique request."""
        user = [{"type": "image"} for _ in range(n_images)] + [{"type": "text", "text": question}]
        msgs = [{"role": "user", "content": user}]
        if response is not None:
            msgs += [{"role": "assistant", "content": [{"type": "text", "text": response}]},
                     {"role": "user", "content": [{"type": "text", "text": CRITIQUE_PROMPT}]}]
        return escape_messages(msgs, self.special)

    def prompt_text(self, msgs: list[dict[str, Any]]) -> str:
        return self.processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=False)

    def answer_ids(self, msgs: list[dict[str, Any]], answer: str) -> list[int]:
        """``answer`` as the chat template writes it after ``msgs``, cut after its end-of-turn token."""
        prompt = self.prompt_text(msgs)
        full = self.processor.apply_chat_template(
            msgs + escape_messages([{"role": "assistant", "content": [{"type": "text", "text": answer}]}], self.special),
            tokenize=False)
        ids = self.tokenizer(full[len(prompt):], add_special_tokens=False)["input_ids"]
        for k, t in enumerate(ids):
            if t in self.eos_ids:
                return ids[: k + 1]
        return ids

    def _prompt(self, msgs: list[dict[str, Any]], images: list[Image.Image]) -> tuple[torch.Tensor, dict]:
        kwargs: dict[str, Any] = {"text": [self.prompt_text(msgs)], "return_tensors": "pt"}
        if images:
            kwargs["images"] = [list(images)]
        out = self.processor(**kwargs)
        mm = {k: v for k, v in out.items() if k not in ("input_ids", "attention_mask") and isinstance(v, torch.Tensor)}
        return out["input_ids"][0], mm

    def encode(self, question: str, images: list[Image.Image], response: str,
               critique: str | None = None, *, learn_response: bool = False) -> RewardEncoded:
        """``prompt + response`` (scalar), or ``prompt + response + critique`` with the critique as the target.

        ``learn_response`` also gives the response's tokens as ``response_labels``: the chosen answer of
        a pair under ``reward.lm_weight`` (GRM's SFT regulariser).
        """
        user = self.prompt_messages(question, len(images))
        if critique is None:
            msgs, answer, learn = user, response, False
        else:
            msgs, answer, learn = self.prompt_messages(question, len(images), response), critique, True
        prompt_ids, mm = self._prompt(msgs, images)
        ans = torch.tensor(self.answer_ids(msgs, answer), dtype=prompt_ids.dtype)
        ids = torch.cat([prompt_ids, ans])
        labels = torch.cat([torch.full_like(prompt_ids, IGNORE), ans if learn else torch.full_like(ans, IGNORE)])
        response_labels = None
        if learn_response:  # a critique model's prompt holds the response as the first assistant turn
            resp = ans.tolist() if critique is None else self.answer_ids(user, response)
            start = len(prompt_ids) if critique is None else _find(ids.tolist(), resp)
            if start < 0 or ids[start:start + len(resp)].tolist() != resp:
                raise ValueError("the chat template does not write the response as a one-turn chat's answer; "
                                 "reward.lm_weight cannot find its tokens (set it to 0)")
            response_labels = torch.full_like(ids, IGNORE)
            response_labels[start:start + len(resp)] = ids[start:start + len(resp)]
        if "mm_token_type_ids" in mm:
            mm["mm_token_type_ids"] = torch.cat([mm["mm_token_type_ids"][0], torch.zeros_like(ans)])
        return RewardEncoded(ids, labels, mm, response_labels)

    def generation_inputs(self, question: str, images: list[Image.Image], response: str) -> dict[str, Any]:
        """Processor outputs for generating a critique of ``response`` (ends with the assistant header)."""
        kwargs: dict[str, Any] = {"text": [self.prompt_text(self.prompt_messages(question, len(images), response))],
                                  "return_tensors": "pt"}
        if images:
            kwargs["images"] = [list(images)]
        return dict(self.processor(**kwargs))

    def collate(self, rows: list[RewardEncoded]) -> dict[str, torch.Tensor]:
        """Right-padded batch: ``input_ids``, ``attention_mask``, ``labels``, ``last_index``, image tensors, and
        ``response_labels`` when a row has them."""
        n = max(len(r.input_ids) for r in rows)
        ids = torch.full((len(rows), n), self.pad_id, dtype=torch.long)
        labels = torch.full((len(rows), n), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(rows), n), dtype=torch.long)
        for i, r in enumerate(rows):
            k = len(r.input_ids)
            ids[i, :k], labels[i, :k], mask[i, :k] = r.input_ids, r.labels, 1
        batch: dict[str, torch.Tensor] = {"input_ids": ids, "attention_mask": mask, "labels": labels,
                                          "last_index": mask.sum(1) - 1}
        if any(r.response_labels is not None for r in rows):
            resp = torch.full((len(rows), n), IGNORE, dtype=torch.long)
            for i, r in enumerate(rows):
                if r.response_labels is not None:
                    resp[i, : len(r.response_labels)] = r.response_labels
            batch["response_labels"] = resp
        keys = {k for r in rows for k in r.mm}
        for k in keys:
            parts = [r.mm[k] for r in rows if k in r.mm]
            if k == "mm_token_type_ids":
                tt = torch.zeros((len(rows), n), dtype=parts[0].dtype)
                for i, r in enumerate(rows):
                    if k in r.mm:
                        tt[i, : len(r.mm[k])] = r.mm[k]
                batch[k] = tt
            else:
                batch[k] = torch.cat(parts, 0)
        return batch

"""One training sample → token ids and labels, with the prompt masked and the answer learned.

The prompt (system, user turn with its images, the assistant header) is rendered with the
checkpoint's own chat template and run through its processor, which expands each image into the
model's image tokens. The answer is what the chat template writes after the prompt for the
assistant turn (rationale + verdict + end-of-turn), tokenized on its own and cut right after the
end-of-turn token: every answer token up to and including end-of-turn has a label, everything
before it is ``-100``. A critic that never learned to stop would be a bug, so the end-of-turn
token must be found in the answer or encoding fails.

Lengths for planning come from :meth:`SampleEncoder.measure`, which counts tokens without
processing pixels (image sizes are read from file headers; the processor says how many tokens an
image of that size becomes). The collator checks the measured length against the encoded one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from critic.models.special_tokens import escape_messages, special_strings
from critic.records import TrainingSample

IGNORE = -100


class EncodeError(ValueError):
    """A sample that cannot be turned into a training sequence (the message says why)."""


@dataclass
class Encoded:
    """One sample's sequence: ``input_ids`` and ``labels`` (1-D), plus the processor's image tensors."""

    input_ids: torch.Tensor
    labels: torch.Tensor
    mm: dict[str, torch.Tensor] = field(default_factory=dict)
    n_images: int = 0

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    @property
    def n_learned(self) -> int:
        return int((self.labels != IGNORE).sum())


def _messages(sample: TrainingSample, prompt_only: bool) -> list[dict[str, Any]]:
    msgs = sample.prompt_messages if prompt_only else sample.messages
    return [m.model_dump(mode="json") for m in msgs]


def eos_token_ids(processor: Any, generation_config: Any = None) -> set[int]:
    """End-of-turn ids: the generation config's ``eos_token_id`` (one or a list), else the tokenizer's eos."""
    ids: set[int] = set()
    eos = getattr(generation_config, "eos_token_id", None) if generation_config is not None else None
    if eos is not None:
        ids |= set(eos if isinstance(eos, list | tuple) else [eos])
    tok = getattr(processor, "tokenizer", processor)
    if not ids and tok.eos_token_id is not None:
        ids.add(int(tok.eos_token_id))
    if not ids:
        raise EncodeError("the checkpoint names no end-of-turn token (generation_config.eos_token_id or tokenizer eos)")
    return ids


class SampleEncoder:
    """Encodes :class:`~critic.records.TrainingSample` rows for one processor (picklable)."""

    def __init__(self, processor: Any, eos_ids: set[int]):
        self.processor = processor
        self.tokenizer = getattr(processor, "tokenizer", processor)
        self.eos_ids = set(eos_ids)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else min(self.eos_ids)
        self._placeholder = self._image_placeholder_len()
        self.special = special_strings(processor)  # sample text never becomes these tokens (issue 14.9)

    # -- text ------------------------------------------------------------------------------
    def texts(self, sample: TrainingSample) -> tuple[str, str]:
        """(prompt text ending with the assistant header, answer text as the chat template writes it)."""
        if sample.messages[-1].role != "assistant":
            raise EncodeError("the last message must be the assistant's answer")
        prompt = self.processor.apply_chat_template(escape_messages(_messages(sample, True), self.special),
                                                    add_generation_prompt=True, tokenize=False)
        full = self.processor.apply_chat_template(escape_messages(_messages(sample, False), self.special),
                                                  tokenize=False)
        if not full.startswith(prompt):
            raise EncodeError("the chat template renders the prompt differently once the answer is added; "
                              "cannot tell prompt from answer")
        return prompt, full[len(prompt):]

    def answer_ids(self, answer: str) -> list[int]:
        """Answer token ids, cut right after the first end-of-turn token (which is kept)."""
        ids = self.tokenizer(answer, add_special_tokens=False)["input_ids"]
        for k, t in enumerate(ids):
            if t in self.eos_ids:
                return ids[: k + 1]
        raise EncodeError("the answer as the chat template writes it has no end-of-turn token "
                          f"(looked for ids {sorted(self.eos_ids)}); the critic would never learn to stop")

    # -- lengths without pixels --------------------------------------------------------------
    def _image_placeholder_len(self) -> int:
        tok = self.tokenizer
        token = getattr(self.processor, "image_token", None) or getattr(tok, "image_token", None)
        if not token:
            return 1
        return len(tok(token, add_special_tokens=False)["input_ids"])

    def image_token_counts(self, sizes: list[tuple[int, int]]) -> list[int]:
        """Image tokens each image of ``sizes`` ((height, width)) becomes in the prompt."""
        if not sizes:
            return []
        proc = self.processor
        if len(sizes) > 1 and hasattr(proc, "replace_image_token") and hasattr(proc, "num_image_tokens"):
            # LLaVA-OneVision: several images in one sample use the base features only (no anyres)
            n = proc.num_image_tokens + 1 - (getattr(proc, "vision_feature_select_strategy", "") == "default")
            return [n] * len(sizes)
        mm = proc._get_num_multimodal_tokens(image_sizes=[list(s) for s in sizes])
        counts = mm["num_image_tokens"] if isinstance(mm, dict) else mm.num_image_tokens
        return [int(c) for c in counts]

    def measure(self, sample: TrainingSample, sizes: list[tuple[int, int]]) -> tuple[int, int]:
        """(sequence length, learned tokens) of ``sample`` with images of ``sizes`` (height, width)."""
        prompt, answer = self.texts(sample)
        n_answer = len(self.answer_ids(answer))
        n_text = len(self.tokenizer(prompt)["input_ids"])
        try:
            counts = self.image_token_counts(sizes)
        except (AttributeError, NotImplementedError, TypeError, KeyError):
            # this processor cannot count image tokens from sizes alone: encode blank images of those sizes
            images = [Image.new("RGB", (w, h)) for h, w in sizes]
            return len(self.encode(sample, images)), n_answer
        return n_text - self._placeholder * len(sizes) + sum(counts) + n_answer, n_answer

    # -- encoding ------------------------------------------------------------------------------
    def encode(self, sample: TrainingSample, images: list[Image.Image]) -> Encoded:
        prompt, answer = self.texts(sample)
        n_slots = sum(1 for m in sample.prompt_messages for p in m.content if p.get("type") == "image")
        if n_slots != len(images):
            raise EncodeError(f"the prompt has {n_slots} image slot(s) but the sample has {len(images)} image(s)")
        kwargs: dict[str, Any] = {"text": [prompt], "return_tensors": "pt"}
        if images:
            kwargs["images"] = [list(images)]
        out = self.processor(**kwargs)
        prompt_ids = out["input_ids"][0]
        ans = torch.tensor(self.answer_ids(answer), dtype=prompt_ids.dtype)
        input_ids = torch.cat([prompt_ids, ans])
        labels = torch.cat([torch.full_like(prompt_ids, IGNORE), ans])
        mm = {k: v for k, v in out.items() if k not in ("input_ids", "attention_mask") and isinstance(v, torch.Tensor)}
        if "mm_token_type_ids" in mm:
            mm["mm_token_type_ids"] = torch.cat([mm["mm_token_type_ids"][0], torch.zeros_like(ans)])
        return Encoded(input_ids=input_ids, labels=labels, mm=mm, n_images=len(images))

    def encode_dummy(self, size: tuple[int, int] = (32, 32)) -> Encoded:
        """A segment holding one blank image and nothing to learn (all labels ``-100``).

        Added to micro-batches without any image so every rank runs the vision tower (ZeRO-3 and DDP
        need the same parameters used on every rank); it attends only to itself and adds no loss.
        """
        msgs = [{"role": "user", "content": [{"type": "image"}]}]
        prompt = self.processor.apply_chat_template(msgs, add_generation_prompt=False, tokenize=False)
        out = self.processor(text=[prompt], images=[[Image.new("RGB", (size[1], size[0]), (0, 0, 0))]],
                             return_tensors="pt")
        ids = out["input_ids"][0]
        mm = {k: v for k, v in out.items() if k not in ("input_ids", "attention_mask") and isinstance(v, torch.Tensor)}
        if "mm_token_type_ids" in mm:
            mm["mm_token_type_ids"] = mm["mm_token_type_ids"][0]
        return Encoded(input_ids=ids, labels=torch.full_like(ids, IGNORE), mm=mm, n_images=1)

"""``RewardModel``: run a reward-model checkpoint — rewards for (question, images, response) triples.

The InternLM-XComposer2.5-Reward method set, for users coming from that model::

    rm = RewardModel.from_pretrained("runs/toy_rm")
    chat = [{"role": "user", "content": "What colour is the circle?"},
            {"role": "assistant", "content": "The circle is red."}]
    rm.get_score(chat, images)              # one float
    rm.get_scores([chat1, chat2], [images, images])
    rm.compare(chat1, images, chat2, images)  # True when chat1 scores higher
    rm.rank([chat1, chat2, chat3], [images] * 3)  # ranks, 0 = best

A scalar model scores a batch in one forward pass, with no generation. A critique-then-score model
first writes a greedy critique of each response (LM head), then scores ``prompt + response +
critique`` in one forward. Rewards are raw; ``normalise(r) = (r − mean) / std`` uses the mean and
standard deviation measured on the training responses, kept in ``critic.json`` (OpenRLHF's
``--normalize_reward``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from critic.reward.encode import RewardEncoder, end_of_turn_ids
from critic.reward.meta import reward_meta
from critic.reward.model import RewardNet


@dataclass(frozen=True)
class Scored:
    """A reward and, for ``critique_score``, the critique it was read after."""

    reward: float
    critique: str | None = None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content if isinstance(p, dict))


def chat_parts(chat: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """(question, response) of an IXC-style chat: the last user turn and the assistant turn after it."""
    users = [m for m in chat if m.get("role") == "user"]
    answers = [m for m in chat if m.get("role") == "assistant"]
    if not users or not answers:
        raise ValueError("a chat needs a user turn and an assistant turn")
    return _text(users[-1]["content"]), _text(answers[-1]["content"])


class RewardModel:
    """A loaded reward-model checkpoint (kind ``scalar`` or ``critique_score``)."""

    def __init__(self, net: RewardNet, processor: Any, *, path: str = "", batch_size: int = 8,
                 max_new_tokens: int = 128, mean: float = 0.0, std: float = 1.0):
        self.net = net.eval()
        self.kind = net.kind
        self.processor = processor
        self.path = path
        self.batch_size = batch_size
        self.max_new_tokens = max_new_tokens
        self.mean, self.std = mean, std or 1.0
        gen = getattr(net.backbone, "generation_config", None)
        self.encoder = RewardEncoder(processor, end_of_turn_ids(processor, gen))

    @classmethod
    def from_pretrained(cls, path: str | Path, *, batch_size: int = 8, max_new_tokens: int = 128,
                        dtype: str | None = None, device: str | None = None) -> RewardModel:
        from critic.models.loading import load_processor

        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        net = RewardNet.from_pretrained(path, dtype=dtype, device=device)
        meta = reward_meta(path)
        return cls(net, load_processor(str(path)), path=str(path), batch_size=batch_size,
                   max_new_tokens=max_new_tokens, mean=float(meta.get("mean", 0.0)), std=float(meta.get("std", 1.0)))

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    def normalise(self, reward: float) -> float:
        """``(reward − mean) / std`` with the training responses' mean and std."""
        return (reward - self.mean) / self.std

    # -- the core: rewards of triples -------------------------------------------------------
    @torch.no_grad()
    def critique(self, question: str, images: Sequence[Image.Image], response: str) -> str:
        """The model's greedy critique of ``response`` (critique_score models)."""
        inputs = self.encoder.generation_inputs(question, list(images), response)
        inputs = {k: v.to(self.device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
        n = inputs["input_ids"].shape[1]
        pad = self.encoder.pad_id
        out = self.net.backbone.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False,
                                         pad_token_id=pad)
        return self.encoder.tokenizer.decode(out[0, n:], skip_special_tokens=True).strip()

    @torch.no_grad()
    def score_triples(self, triples: Sequence[tuple[str, Sequence[Image.Image], str]]) -> list[Scored]:
        """Rewards of ``(question, images, response)`` triples, ``batch_size`` sequences per forward."""
        critiques: list[str | None] = [None] * len(triples)
        if self.kind == "critique_score":
            critiques = [self.critique(q, imgs, r) for q, imgs, r in triples]
        out: list[Scored] = []
        for s in range(0, len(triples), self.batch_size):
            rows = [self.encoder.encode(q, list(imgs), r, critiques[s + k])
                    for k, (q, imgs, r) in enumerate(triples[s: s + self.batch_size])]
            batch = self.encoder.collate(rows)
            batch.pop("labels")
            batch = {k: v.to(self.device) for k, v in batch.items()}
            if "pixel_values" in batch:
                batch["pixel_values"] = batch["pixel_values"].to(next(self.net.parameters()).dtype)
            rewards = self.net(**batch)["rewards"].tolist()
            out += [Scored(r, critiques[s + k]) for k, r in enumerate(rewards)]
        return out

    # -- the InternLM-XComposer2.5-Reward method set -------------------------------------------
    def get_scores(self, chats: Sequence[Sequence[dict[str, Any]]],
                   images: Sequence[Sequence[Image.Image | str]] | None = None) -> list[float]:
        """One reward per chat (``images[i]``: the images of chat ``i``, PIL or paths)."""
        from critic.media import load_image

        imgs = images if images is not None else [[] for _ in chats]
        triples = []
        for chat, ims in zip(chats, imgs, strict=True):
            q, r = chat_parts(chat)
            triples.append((q, [load_image(i) for i in ims], r))
        return [s.reward for s in self.score_triples(triples)]

    def get_score(self, chat: Sequence[dict[str, Any]], images: Sequence[Image.Image | str] = ()) -> float:
        """The reward of one chat."""
        return self.get_scores([chat], [list(images)])[0]

    def compare(self, chat_a: Sequence[dict[str, Any]], images_a: Sequence[Image.Image | str],
                chat_b: Sequence[dict[str, Any]], images_b: Sequence[Image.Image | str]) -> bool:
        """True when ``chat_a`` scores higher than ``chat_b``."""
        a, b = self.get_scores([chat_a, chat_b], [list(images_a), list(images_b)])
        return a > b

    def rank(self, chats: Sequence[Sequence[dict[str, Any]]],
             images: Sequence[Sequence[Image.Image | str]] | None = None) -> list[int]:
        """The rank of each chat, 0 = highest reward (K forwards for K chats)."""
        scores = self.get_scores(chats, images)
        order = sorted(range(len(scores)), key=lambda i: -scores[i])
        ranks = [0] * len(scores)
        for r, i in enumerate(order):
            ranks[i] = r
        return ranks

"""Preference-pair batches for reward-model training: chosen rows first, then rejected rows.

A micro-batch of B pairs is 2B right-padded sequences (``critic.reward.encode``): rows ``0..B-1``
hold ``prompt + chosen [+ chosen critique]``, rows ``B..2B-1`` the rejected ones, so the loss pairs
row ``i`` with row ``B + i``. Packing does not apply: every sequence gives one reward at its own
last token, and pairs are short next to a generative critic's samples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from critic.reward.encode import RewardEncoded, RewardEncoder
from critic.reward.pairs import PreferencePair, read_pairs


class PairDataError(ValueError):
    """A pair file that cannot be trained on (the message names it and says why)."""


@dataclass
class PairData(torch.utils.data.Dataset):
    """The pairs of a training file; item ``i`` is the pair itself (the collator encodes)."""

    pairs: list[PreferencePair]
    path: str = ""
    dropped_too_long: int = 0
    missing_critiques: int = 0

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> PreferencePair:
        return self.pairs[i]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "pairs": len(self.pairs), "dropped_too_long": self.dropped_too_long,
                "missing_critiques": self.missing_critiques}


def load_pairs(path: str, *, kind: str) -> PairData:
    """Read ``path``; ``critique_score`` needs both critiques on every pair (pairs without them are dropped)."""
    try:
        pairs = read_pairs(path)
    except FileNotFoundError:
        raise PairDataError(f"data.train: {path} not found (`critic data build RECIPE --out DIR` with "
                            "`layout: pairs` writes DIR/train.jsonl; docs/data.md)") from None
    except ValueError as exc:
        raise PairDataError(str(exc)) from None
    missing = 0
    if kind == "critique_score":
        kept = [p for p in pairs if p.chosen_critique and p.rejected_critique]
        missing = len(pairs) - len(kept)
        if pairs and not kept:
            raise PairDataError(
                f"data.train: {path}: train.objective critique_score learns to write a critique of each answer, and "
                f"none of its {len(pairs)} pairs has one (chosen_critique / rejected_critique). Build the pairs "
                "through a teacher (`critic data build` with `layout: pairs` and a source `target: teacher_explain`, "
                "e.g. data_recipes/toy_pairs.yaml; docs/data.md), or train `train.objective: scalar` on this file")
        pairs = kept
    if not pairs:
        raise PairDataError(f"data.train: {path} holds no usable preference pairs"
                            + (f" ({missing} without critiques)" if missing else ""))
    return PairData(pairs, path=str(path), missing_critiques=missing)


@dataclass
class PairCollator:
    """Encodes pairs into one batch of 2B rows (``n_pairs`` = B); ``image_ablation="blank"`` blacks images out.

    A critique_score batch carries ``labels`` on every critique; ``learn_chosen`` (``reward.lm_weight``
    > 0) adds ``response_labels`` on the chosen responses' tokens (rejected rows learn none).
    """

    encoder: RewardEncoder
    kind: str
    image_ablation: str = "none"
    cache: bool = False
    learn_chosen: bool = False
    _memo: dict[tuple[str, str], tuple[RewardEncoded, RewardEncoded]] = field(default_factory=dict)

    def images(self, pair: PreferencePair) -> list[Image.Image]:
        from critic.media import load_image

        imgs = [load_image(p) for p in pair.images]
        if self.image_ablation == "blank":
            imgs = [Image.new("RGB", im.size, (0, 0, 0)) for im in imgs]
        return imgs

    def encode(self, pair: PreferencePair) -> tuple[RewardEncoded, RewardEncoded]:
        key = (pair.id, pair.chosen + "\0" + pair.rejected)
        if self.cache and key in self._memo:
            return self._memo[key]
        imgs = self.images(pair)
        crit = self.kind == "critique_score"
        got = (self.encoder.encode(pair.question, imgs, pair.chosen, pair.chosen_critique if crit else None,
                                   learn_response=self.learn_chosen),
               self.encoder.encode(pair.question, imgs, pair.rejected, pair.rejected_critique if crit else None))
        if self.cache:
            self._memo[key] = got
        return got

    def __call__(self, pairs: list[PreferencePair]) -> dict[str, Any]:
        enc = [self.encode(p) for p in pairs]
        batch: dict[str, Any] = self.encoder.collate([c for c, _ in enc] + [r for _, r in enc])
        if self.kind != "critique_score":
            batch.pop("labels")
        batch["n_pairs"] = len(pairs)
        return batch

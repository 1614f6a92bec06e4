"""``RewardCritic``: a reward model behind the judge interface every command uses.

It has what :class:`~critic.judging.critic.Critic` offers the rest of critic — ``score``,
``compare``, ``rank``, ``judge_stream``, ``template_for``, ``backend.judge_id``, ``sampling`` — so
``critic judge``, ``eval-bench``, ``label-pairs``, ``best-of-n``, ``filter``, ``critic dpo`` and
the TRL adapters take a reward-model checkpoint with no other argument
(:func:`critic.judging.factory.make_critic` builds one when ``critic.json`` records a reward kind).

- pointwise item → ``score`` = the raw reward (``RewardModel.normalise`` gives the normalised one);
- pairwise item → ``scores = [r_A, r_B]``, ``winner`` A / B, or ``tie`` when ``|r_A − r_B| < tie_epsilon``.
  A scalar model is order-free: both orders of ``swap="both"`` get the same verdict from the same two
  forwards;
- ``rationale`` holds the critique (``critique_score``) and is empty for ``scalar``.

Within one ``judge_stream`` call each distinct (question, images, response) is scored once, so a
K-answer tournament (K·(K−1) pairwise judgments) costs K forwards, as pointwise ranking does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from critic.judging.backends.generation import SamplingParams
from critic.judging.pair_order import make_comparison, orders
from critic.records import PairwiseItem, PairwiseJudgment, PointwiseItem, PointwiseJudgment
from critic.reward.scorer import RewardModel, Scored


@dataclass(frozen=True)
class RewardTemplate:
    """Stands where a template would: a name and hash for judgments and resume keys; no scale."""

    name: str
    hash: str
    task: str
    scale: tuple[float, float] | None = None


@dataclass
class RewardBackend:
    """What callers read of a backend: ``judge_id`` (no generation happens through it)."""

    judge_id: str


def _fingerprint(path: str) -> str:
    from critic.reward.meta import HEAD_FILE

    head = Path(path) / HEAD_FILE
    data = head.read_bytes() if head.is_file() else path.encode()
    return hashlib.sha256(data).hexdigest()[:16]


class RewardCritic:
    """A :class:`RewardModel` judging items; ``tie_epsilon``: |Δ reward| below which a pair is a tie."""

    def __init__(self, model: RewardModel, *, tie_epsilon: float = 0.0, seed: int = 0, progress: bool = True,
                 max_image_pixels: int | None = None, image_root: str | Path | None = None):
        self.model = model
        self.tie_epsilon = tie_epsilon
        self.seed = seed
        self.progress = progress
        self.max_image_pixels = max_image_pixels
        self.image_root = image_root
        self.backend = RewardBackend(judge_id=f"reward-{model.kind}:{model.path}")
        self.sampling = SamplingParams(max_new_tokens=model.max_new_tokens)
        fp = _fingerprint(model.path)
        self._templates = {t: RewardTemplate(name=f"reward_{model.kind}", hash=fp, task=t)
                           for t in ("pointwise", "pairwise")}

    @classmethod
    def from_pretrained(cls, path: str | Path, *, batch_size: int = 8, max_new_tokens: int = 128,
                        dtype: str | None = None, device: str | None = None, **kwargs: Any) -> RewardCritic:
        model = RewardModel.from_pretrained(path, batch_size=batch_size, max_new_tokens=max_new_tokens, dtype=dtype,
                                            device=device)
        return cls(model, **kwargs)

    @property
    def kind(self) -> str:
        return self.model.kind

    def template_for(self, task: str, override: Any = None) -> RewardTemplate:
        return self._templates[task]

    # -- judging -----------------------------------------------------------------------------
    def _images(self, item: Any, given: Sequence[Image.Image] | None) -> list[Image.Image]:
        from critic.media import load_image

        if given is not None:
            return list(given)
        return [load_image(p, max_pixels=self.max_image_pixels, root=self.image_root) for p in item.images]

    def judge_stream(self, items: Sequence[PointwiseItem | PairwiseItem], *, swap: str = "none",
                     template: Any = None, pil_images: Sequence[Sequence[Image.Image]] | None = None,
                     desc: str = "judging", skip: Any = frozenset()) -> Iterator[PointwiseJudgment | PairwiseJudgment]:
        """Yield a judgment per (item, order), as :meth:`Critic.judge_stream` does."""
        triples: list[tuple[str, list[Image.Image], str]] = []
        index: dict[tuple, int] = {}
        plan: list[tuple[Any, bool, list[int] | None, str | None]] = []
        for n, item in enumerate(items):
            flags = orders(item.id, swap, self.seed) if item.task == "pairwise" else [False]
            flags = [f for f in flags if (item.id, f) not in skip]
            if not flags:
                continue
            try:
                imgs = self._images(item, pil_images[n] if pil_images is not None else None)
            except Exception as exc:  # an unreadable image is one failed item
                plan += [(item, f, None, f"input: {exc}") for f in flags]
                continue
            responses = [item.response] if item.task == "pointwise" else [item.response_a, item.response_b]
            slots = []
            for r in responses:
                key = (item.question, tuple(id(i) for i in imgs) if pil_images is not None else tuple(item.images), r)
                if key not in index:
                    index[key] = len(triples)
                    triples.append((item.question, imgs, r))
                slots.append(index[key])
            plan += [(item, f, slots, None) for f in flags]
        scored = self.model.score_triples(triples) if triples else []
        for item, swapped, slots, error in plan:
            yield self._judgment(item, swapped, [scored[s] for s in slots] if slots else None, error)

    def _judgment(self, item: Any, swapped: bool, got: list[Scored] | None, error: str | None):
        t = self._templates[item.task]
        common: dict[str, Any] = dict(id=item.id, template=t.name, template_hash=t.hash, judge=self.backend.judge_id,
                                      sampling=self.sampling.to_dict())
        if got is None:
            common.update(error=error or "no result")
        elif item.task == "pointwise":
            common.update(score=got[0].reward, rationale=got[0].critique, raw=f"reward {got[0].reward:.6g}")
        else:
            ra, rb = got[0].reward, got[1].reward
            d = ra - rb
            winner = "tie" if abs(d) < self.tie_epsilon or d == 0 else ("A" if d > 0 else "B")
            rationale = None
            if got[0].critique is not None:
                rationale = f"Response A: {got[0].critique}\nResponse B: {got[1].critique}"
            common.update(winner=winner, scores=[ra, rb], rationale=rationale,
                          raw=f"reward A {ra:.6g}, reward B {rb:.6g}")
        if item.task == "pointwise":
            return PointwiseJudgment(**common)
        return PairwiseJudgment(swapped=swapped, **common)

    def score(self, items, *, template: Any = None, pil_images=None):
        """Pointwise judgments whose ``score`` is the raw reward, in input order."""
        single = isinstance(items, PointwiseItem)
        batch = [items] if single else list(items)
        imgs = [pil_images] if single and pil_images is not None else pil_images
        out = list(self.judge_stream(batch, pil_images=imgs))
        return out[0] if single else out

    def compare(self, items, *, swap: str = "none", rule: str = "tie", template: Any = None, pil_images=None):
        """A :class:`~critic.judging.pair_order.Comparison` per pair (A / B / tie by ``tie_epsilon``)."""
        single = isinstance(items, PairwiseItem)
        batch = [items] if single else list(items)
        imgs = [pil_images] if single and pil_images is not None else pil_images
        got: dict[str, list[PairwiseJudgment]] = {it.id: [] for it in batch}
        for j in self.judge_stream(batch, swap=swap, pil_images=imgs):
            got[j.id].append(j)  # type: ignore[arg-type]
        out = [make_comparison(it.id, got[it.id], rule) for it in batch]
        return out[0] if single else out

    def rank(self, sets, **kw):
        """Rank candidate sets by reward: K forwards per set (pointwise mode unless told otherwise)."""
        from critic.judging.ranking import rank

        kw.setdefault("mode", "pointwise")
        return rank(self, sets, **kw)

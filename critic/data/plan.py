"""Planning a dataset build: which samples each source item becomes, before any teacher call.

For each item a :class:`Planner` copies its images into the dataset (content-hashed), draws its
template(s) from the recipe's mix among those that fit the item (a template that needs a reference,
or a gold verdict the template cannot express, does not fit), decides whether the reference is
dropped and whether the pair is shown swapped, and assigns the split. The random stream is seeded by
``(recipe seed, source name, item id)`` only and the split by a hash of ``(seed, split key)``, so a
job never depends on what came before it: the same recipe plans the same jobs, in the same order.

An item without a rubric of its own gets the build's ``--rubric`` (``rubric``), else one drawn
from the source's (else the recipe's) ``rubrics`` by a hash of ``(recipe seed, item id)``: the same
item gets the same rubric in every run and worker, and the draw leaves the other choices unchanged.

Every input that cannot become a job is counted in :class:`~critic.data.stats.DatasetStats` with
its ``file:line`` and one of the reasons below (sources add their own, see :mod:`critic.data.sources`).
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from critic.data.clips import store_frames
from critic.data.recipe import Recipe, line_of
from critic.data.samples import gold_verdict
from critic.data.sources import UNKNOWN_TEMPLATE, SourceItem, SourceProblem
from critic.data.stats import DatasetStats
from critic.data.worker import JobSpec
from critic.data.writers import ImageStore, is_missing
from critic.judging.templates import Template, TemplateError, load_template
from critic.media import MediaError
from critic.records import PairwiseItem, PointwiseItem

# Drop reasons decided while planning (sources add theirs, see critic.data.sources; the teacher stage
# its own, see critic.data.worker).
MISSING_IMAGE = "missing image"
UNREADABLE_IMAGE = "unreadable image"
NO_TEMPLATE = "no template fits"
NO_GOLD = "no gold label"
NO_RATIONALE = "no rationale"
DUPLICATE = "duplicate sample id"


class TemplateMix:
    """A template mix (name → weight), loaded once; unknown names are reported with the recipe line."""

    def __init__(self, weights: dict[str, float], recipe_path: Path, loc: tuple[Any, ...], stats: DatasetStats):
        self.by_task: dict[str, list[tuple[Template, float]]] = {"pointwise": [], "pairwise": []}
        for name, w in weights.items():
            try:
                t = load_template(name)
            except (TemplateError, FileNotFoundError, KeyError) as exc:
                line = line_of(recipe_path, (*loc, name))
                stats.drop(-1, f"{recipe_path}:{line or 0}", "(recipe)", UNKNOWN_TEMPLATE, f"{name}: {exc}")
                continue
            if w > 0:
                self.by_task[t.task].append((t, w))

    def choose(self, task: str, rng: random.Random, k: int,
               fits: Callable[[Template], str | None]) -> list[Template] | str:
        """Up to ``k`` distinct templates of ``task`` drawn by weight among those that fit, or why none does."""
        cands, why = [], []
        for t, w in self.by_task[task]:
            problem = fits(t)
            if problem is None:
                cands.append((t, w))
            else:
                why.append(f"{t.name}: {problem}")
        if not cands:
            return "; ".join(why) or f"the template mix has no {task} template"
        chosen = []
        for _ in range(min(k, len(cands))):
            r = rng.random() * sum(w for _, w in cands)
            for i, (t, w) in enumerate(cands):
                r -= w
                if r < 0 or i == len(cands) - 1:
                    chosen.append(t)
                    del cands[i]
                    break
        return chosen


def _unit(*parts: Any) -> float:
    """A uniform number in [0, 1) from a hash of ``parts`` (splits: stable across runs and machines)."""
    h = hashlib.sha256("\0".join(map(str, parts)).encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


def template_fits(item: PointwiseItem | PairwiseItem, gold_items: Sequence[PointwiseItem | PairwiseItem],
                  gold_scale: Any) -> Callable[[Template], str | None]:
    """Why a template cannot make a sample of ``item`` (None if it can): it needs a reference the item
    lacks, or it cannot express the gold verdict of one of ``gold_items`` (the item itself, or its answers)."""
    def fits(t: Template) -> str | None:
        if t.needs_reference and not (item.reference and item.reference.strip()):
            return "needs a reference answer"
        for gold_item in gold_items:
            try:
                problem = t.spec.problem(gold_verdict(gold_item, t, gold_scale))
            except ValueError as exc:
                return str(exc)
            if problem:
                return problem
        return None

    return fits


class Planner:
    """Turns one source's events into jobs (see the module docstring); ``seq`` numbers every event."""

    def __init__(self, recipe: Recipe, recipe_path: Path, index: int, stats: DatasetStats, images: ImageStore,
                 seq: itertools.count, rubric: str | None = None) -> None:
        self.recipe, self.stats, self.images, self.seq = recipe, stats, images, seq
        self.cfg = recipe.sources[index]
        self.rubric = rubric
        self.rubrics = self.cfg.rubrics if self.cfg.rubrics is not None else recipe.rubrics
        self.name = recipe.source_name(index)
        loc = ("sources", index, "templates") if self.cfg.templates is not None else ("templates",)
        self.mix = TemplateMix(self.cfg.templates if self.cfg.templates is not None else recipe.templates,
                               recipe_path, loc, stats)
        total = sum(recipe.splits.values())
        self.cuts = list(zip(itertools.accumulate(w / total for w in recipe.splits.values()), recipe.splits))
        self.seen: set[bytes] = set()

    def _split(self, item: PointwiseItem | PairwiseItem) -> str:
        key = {"question_id": item.question_id or item.id, "id": item.id,
               "image": Path(item.images[0]).name if item.images else item.id}[self.recipe.split_key]
        u = _unit(self.recipe.seed, key)
        return next((name for cut, name in self.cuts if u < cut), self.cuts[-1][1])

    def rubric_for(self, item_id: str) -> str | None:
        """The rubric an item without its own gets: ``--rubric``, else a seeded draw from ``rubrics``."""
        if self.rubric is not None or not self.rubrics:
            return self.rubric
        return self.rubrics[int(_unit("rubric", self.recipe.seed, item_id) * len(self.rubrics))]

    def _store_images(self, src: SourceItem, seq: int) -> list[str] | None:
        """Copy the item's images (and its clip's sampled frames, :mod:`critic.data.clips`) into the
        dataset; the stored frames, or None (and a drop) when an image or the clip is missing or unreadable."""
        try:
            if src.pil_images is not None:
                src.item.images = [self.images.add_pil(im) for im in src.pil_images]
            else:
                src.item.images = [self.images.add_path(p) for p in src.item.images]
            frames = store_frames(src.item, self.images)
        except MediaError as exc:
            reason = MISSING_IMAGE if is_missing(exc) else UNREADABLE_IMAGE
            self.stats.drop(seq, src.where, self.name, reason, str(exc))
            return None
        src.pil_images = None
        return frames

    def _fits(self, item: PointwiseItem | PairwiseItem, gold_scale: Any) -> Callable[[Template], str | None]:
        gold_items = [item] if self.cfg.target in ("gold", "teacher_explain") else []
        return template_fits(item, gold_items, gold_scale)

    def _new(self, sid: str, seq: int, where: str) -> bool:
        """Whether sample id ``sid`` is new to this source (a repeat is counted as a drop)."""
        digest = hashlib.blake2b(sid.encode(), digest_size=12).digest()
        if digest in self.seen:
            self.stats.drop(seq, where, self.name, DUPLICATE, sid)
            return False
        self.seen.add(digest)
        return True

    def jobs(self, events: Iterator[SourceItem | SourceProblem]) -> Iterator[JobSpec]:
        """The jobs of every item, in source order; problems are counted as drops."""
        r, mode = self.recipe, self.cfg.target
        for ev in events:
            seq = next(self.seq)
            if isinstance(ev, SourceProblem):
                self.stats.drop(seq, ev.where, self.name, ev.reason, ev.detail)
                continue
            self.stats.item_read(self.name)
            frames = self._store_images(ev, seq)
            if frames is None:
                continue
            item = ev.item
            if not item.rubric and (rubric := self.rubric_for(item.id)) is not None:
                item.rubric = rubric
            if mode == "gold" and not isinstance((item.meta or {}).get("rationale"), str):
                self.stats.drop(seq, ev.where, self.name, NO_RATIONALE, "the gold target needs meta.rationale")
                continue
            if mode != "teacher_judge" and (item.label if item.task == "pairwise" else item.score) is None:
                self.stats.drop(seq, ev.where, self.name, NO_GOLD, f"{mode} needs the item's gold label / score")
                continue
            rng = random.Random(f"{r.seed}\0{self.name}\0{item.id}")
            chosen = self.mix.choose(item.task, rng, r.templates_per_item, self._fits(item, ev.gold_scale))
            if isinstance(chosen, str):
                self.stats.drop(seq, ev.where, self.name, NO_TEMPLATE, chosen)
                continue
            split = self._split(item)
            for t in chosen:
                shown = item
                if item.reference and not t.needs_reference and rng.random() < r.augment.reference_drop_rate:
                    shown = item.model_copy(update={"reference": None})
                orders = [False]
                if item.task == "pairwise" and rng.random() < r.augment.swap_rate:
                    orders = [False, True] if r.augment.swap_mode == "add" else [True]
                if not self._new(f"{self.name}:{item.id}:{t.name}", seq, ev.where):
                    continue
                gold = gold_verdict(shown, t, ev.gold_scale).to_dict() if mode != "teacher_judge" else None
                yield JobSpec(seq, ev.where, self.name, mode, shown, str(t.path), orders, split, gold, ev.gold_scale,
                              frames)

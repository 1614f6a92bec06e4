"""The ``pairs`` layout of ``critic data build``: preference pairs for reward models.

With ``layout: pairs`` in the recipe, every pairwise item with a decisive preference becomes one
:class:`~critic.reward.pairs.PreferencePair` row of ``DIR/{split}.jsonl`` — ``images``, ``question``,
``chosen``, ``rejected`` and, when a teacher was asked, ``chosen_critique`` / ``rejected_critique`` —,
exactly what ``critic train`` reads with ``train.objective: scalar | critique_score``
(:mod:`critic.training.reward_data`). What the source's ``target`` means here:

* ``gold`` — the item's label says which answer is chosen; no teacher, no critiques (a ``scalar``
  reward model trains on them; ``critique_score`` refuses them, saying it needs critiques);
* ``teacher_explain`` — the label is known; the teacher critiques **each answer on its own** with a
  pointwise template of the mix (the critique is its rationale, the verdict line left out). When the
  item has a gold score per answer (``meta.scores``, as ``two_scores`` templates read it, on the
  source's ``gold_scale``) that orders the answers as its label does, the teacher is given that score
  to explain (the recipe's ``explain_instruction``) and an answer scored otherwise is dropped; without
  such scores the teacher scores each answer itself. Either way a pair whose teacher scores do not put
  the chosen answer strictly above the rejected one is dropped (``teacher verdict contradicts the label``);
* ``teacher_judge`` — no label needed: the teacher critiques and scores each answer as above and the
  higher score is chosen (equal scores: a tie).

Ties are dropped before any teacher call and counted (reason ``tie``); pointwise items make no pair
(reason ``not a pair``: pairs come from pairwise sources). Everything else — sources, images, splits,
the teacher's cache, windows, ``--num-proc``, the staging folder, resuming after a kill, ``stats.json``
and ``card.md`` — is the build's own (:mod:`critic.data.build`). Row ids are ``SOURCE:ITEM_ID:TEMPLATE``
(``SOURCE:ITEM_ID`` for ``gold``); ``meta`` is the item's, plus ``pair``: the label (which of A / B was
chosen), the target, the template and the teacher's scores of chosen and rejected.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from critic.data.plan import NO_GOLD, NO_TEMPLATE, Planner, template_fits
from critic.data.recipe import Recipe, RecipeError, ToySource, line_of
from critic.data.samples import gold_verdict
from critic.data.sources import SourceItem, SourceProblem
from critic.data.teacher import Teacher
from critic.data.worker import CONTRADICTS, JobSpec, Row, WindowResult, current_state, job_target
from critic.data.writers import record_line
from critic.judging.critic import Judgment
from critic.judging.templates import Template
from critic.records import PairwiseItem, PointwiseItem
from critic.reward.pairs import PreferencePair

# Drop reasons of this layout (the planner's, the sources' and the teacher stage's apply too).
TIE = "tie"
NOT_A_PAIR = "not a pair"
NO_TEMPLATE_NAME = "(no template)"  # the template column of gold pairs in stats.json


@dataclass
class PairJob:
    """One pairwise item planned into one pair row (with one pointwise template for teacher targets)."""

    seq: int
    where: str
    source: str
    mode: str
    item: PairwiseItem
    split: str
    sid: str
    template: str | None = None  # path of the pointwise template the answers are critiqued with
    scores: tuple[float, float] | None = None  # gold score of A and B to explain (teacher_explain)
    gold_scale: tuple[float, float] | None = None
    frames: list[str] = field(default_factory=list)

    @property
    def orders(self) -> list[bool]:
        """One row (the build counts planned rows as a job's orders)."""
        return [False]


def check_layout(recipe: Recipe, path: Path) -> None:
    """What ``layout: pairs`` cannot do, as ``file:line: key: problem`` (a :class:`RecipeError`)."""
    if recipe.layout != "pairs":
        return
    problems = []

    def problem(loc: tuple[Any, ...], text: str) -> None:
        line = line_of(path, loc)
        problems.append(f"{path}{f':{line}' if line else ''}: {'.'.join(map(str, loc))}: {text}")

    if recipe.augment.swap_rate:
        problem(("augment", "swap_rate"), "a preference pair has no order (chosen / rejected): swap augmentation "
                "does not apply with layout: pairs; leave it at 0")
    for i, src in enumerate(recipe.sources):
        if isinstance(src, ToySource) and src.task != "pairwise":
            problem(("sources", i, "task"), "layout: pairs makes pairs of pairwise items; a pointwise toy source "
                    "gives none (use task: pairwise)")
    if problems:
        raise RecipeError("\n".join(problems))


def gold_scores(item: PairwiseItem) -> tuple[float, float] | None:
    """The item's gold score of A and B (``meta.scores``) when they order the answers as its label does.

    >>> it = PairwiseItem(id="p", question="q", response_a="x", response_b="y", label="B", meta={"scores": [2, 9]})
    >>> gold_scores(it), gold_scores(it.model_copy(update={"label": "A"}))
    ((2.0, 9.0), None)
    """
    raw = (item.meta or {}).get("scores")
    if not (isinstance(raw, (list, tuple)) and len(raw) == 2 and all(isinstance(s, (int, float)) for s in raw)):
        return None
    a, b = float(raw[0]), float(raw[1])
    return (a, b) if (item.label == "A" and a > b) or (item.label == "B" and b > a) else None


def answer_item(item: PairwiseItem, side: int, score: float | None = None) -> PointwiseItem:
    """Answer ``side`` (0: A, 1: B) of a pair as a pointwise item, with its gold score when known."""
    data = item.model_dump(exclude={"id", "response_a", "response_b", "label", "model_a", "model_b"})
    return PointwiseItem(**data, id=f"{item.id}:{'AB'[side]}", response=(item.response_a, item.response_b)[side],
                         score=score, response_model=(item.model_a, item.model_b)[side])


def answer_jobs(job: PairJob, template: Template, teacher: Teacher,
                instruction: str) -> list[tuple[JobSpec, Template]]:
    """The two teacher calls of a pair (answer A, answer B): each a pointwise job and the template sent."""
    assert job.template is not None, "a gold pair asks no teacher"
    out = []
    for side in (0, 1):
        score = job.scores[side] if job.scores is not None else None
        item = answer_item(job.item, side, score)
        gold = gold_verdict(item, template, job.gold_scale).to_dict() if score is not None else None
        mode = "teacher_explain" if gold is not None else "teacher_judge"
        sent = teacher.explain_template(template, instruction, job.gold_scale) if gold is not None else template
        out.append((JobSpec(job.seq, job.where, job.source, mode, item, job.template, [False], job.split, gold,
                            job.gold_scale, job.frames), sent))
    return out


class PairPlanner(Planner):
    """Turns one source's events into :class:`PairJob` (images stored, ties and pointwise items dropped)."""

    def _answer_fits(self, item: PairwiseItem, scores: tuple[float, float] | None,
                     gold_scale: Any) -> Callable[[Template], str | None]:
        """Whether a pointwise template can critique the answers (and express their gold scores, if given)."""
        answers = [answer_item(item, side, score) for score, side in zip(scores or (), (0, 1))]
        return template_fits(item, answers, gold_scale)

    def jobs(self, events: Iterator[SourceItem | SourceProblem]) -> Iterator[PairJob]:  # type: ignore[override]
        """The pair jobs of every item, in source order; problems, ties and pointwise items are counted as drops."""
        r, mode = self.recipe, self.cfg.target
        for ev in events:
            seq = next(self.seq)
            if isinstance(ev, SourceProblem):
                self.stats.drop(seq, ev.where, self.name, ev.reason, ev.detail)
                continue
            self.stats.item_read(self.name)
            item = ev.item
            if not isinstance(item, PairwiseItem):
                self.stats.drop(seq, ev.where, self.name, NOT_A_PAIR, "layout pairs makes rows of pairwise items")
                continue
            if mode != "teacher_judge" and item.label is None:
                self.stats.drop(seq, ev.where, self.name, NO_GOLD, f"{mode} needs the item's gold label")
                continue
            if mode != "teacher_judge" and item.label == "tie":
                self.stats.drop(seq, ev.where, self.name, TIE, "the label is a tie: no chosen answer")
                continue
            frames = self._store_images(ev, seq)
            if frames is None:
                continue
            if not item.rubric and (rubric := self.rubric_for(item.id)) is not None:
                item.rubric = rubric
            split = self._split(item)
            if mode == "gold":
                if self._new(sid := f"{self.name}:{item.id}", seq, ev.where):
                    yield PairJob(seq, ev.where, self.name, mode, item, split, sid, frames=frames)
                continue
            scores = gold_scores(item) if mode == "teacher_explain" else None
            rng = random.Random(f"{r.seed}\0{self.name}\0{item.id}")
            chosen = self.mix.choose("pointwise", rng, r.templates_per_item, self._answer_fits(item, scores, ev.gold_scale))
            if isinstance(chosen, str):
                self.stats.drop(seq, ev.where, self.name, NO_TEMPLATE,
                                f"the answers are critiqued with a pointwise template: {chosen}")
                continue
            for t in chosen:
                shown = item
                if item.reference and not t.needs_reference and rng.random() < r.augment.reference_drop_rate:
                    shown = item.model_copy(update={"reference": None})
                if self._new(sid := f"{self.name}:{item.id}:{t.name}", seq, ev.where):
                    yield PairJob(seq, ev.where, self.name, mode, shown, split, sid, str(t.path), scores,
                                  ev.gold_scale, frames)


def process_pair_window(jobs: list[PairJob]) -> WindowResult:
    """The teacher calls of a window of pairs (two per pair: one per answer), then each pair's row."""
    st = current_state()
    out = WindowResult()
    planned: list[list[JobSpec]] = []
    calls: list[tuple[PointwiseItem | PairwiseItem, Template]] = []
    frames: list[list[str]] = []
    for job in jobs:
        subs = []
        if job.template is not None:
            teacher = st.get_teacher()
            for sub, sent in answer_jobs(job, st.template(job.template), teacher, st.cfg.explain_instruction):
                subs.append(sub)
                calls.append((sub.item, sent))
                frames.append(job.frames)
        planned.append(subs)
    answers = iter(st.get_teacher().judge(calls, frames) if calls else [])
    for job, subs in zip(jobs, planned):
        row = _row(job, [(sub, next(answers)) for sub in subs], out, st.prefix)
        if row is not None:
            out.rows.append(row)
    st.forget()
    return out


def _words(*texts: str | None) -> int:
    return sum(len((t or "").split()) for t in texts)


def _row(job: PairJob, answered: list[tuple[JobSpec, Judgment]], out: WindowResult, prefix: str) -> Row | None:
    """The pair's row, or None when it is dropped (one drop per pair, every teacher call still counted)."""
    scratch = WindowResult()
    got = [job_target(sub, j, scratch) for sub, j in answered]
    out.calls += scratch.calls
    out.failed += scratch.failed
    if scratch.drops:
        out.drops.append(scratch.drops[0])
        return None
    item = job.item
    info: dict[str, Any] = {"target": job.mode}
    critiques: tuple[str | None, str | None] = (None, None)
    label = item.label
    if got:
        (ra, va), (rb, vb) = got  # type: ignore[misc]
        sa, sb = float(va.score or 0), float(vb.score or 0)
        if job.mode == "teacher_judge" and sa == sb:
            out.drops.append((job.seq, job.where, job.source, TIE, f"the teacher scores both answers {sa:g}"))
            return None
        if job.mode == "teacher_judge":
            label = "A" if sa > sb else "B"
        elif (sa > sb) != (label == "A") or sa == sb:
            out.drops.append((job.seq, job.where, job.source, CONTRADICTS,
                              f"label {label}, teacher scores A {sa:g}, B {sb:g}"))
            return None
        critiques = (ra.strip(), rb.strip())
        info.update(template=answered[0][1].template, scores=[sa, sb] if label == "A" else [sb, sa])
    first = label == "A"
    info = {"label": label, **info}  # the chosen answer's position in the item
    images = [p[len(prefix):] if p.startswith(prefix) else p for p in [*job.frames, *item.images]]
    pair = PreferencePair(
        id=job.sid, images=images, question=item.question,
        chosen=item.response_a if first else item.response_b, rejected=item.response_b if first else item.response_a,
        chosen_critique=critiques[0 if first else 1], rejected_critique=critiques[1 if first else 0],
        source=job.source, meta={**(item.meta or {}), "pair": info})
    stat = (job.split, "pairwise", info.get("template", NO_TEMPLATE_NAME), job.source, job.mode, False, label,
            _words(item.question), max(_words(pair.chosen, pair.chosen_critique),
                                       _words(pair.rejected, pair.rejected_critique)))
    return Row(job.split, record_line(pair.to_json_dict()), None, images, stat)

"""Critic training samples: an item rendered with a template, plus the target the critic must write.

This is the one place where a (item, rationale, verdict) triple becomes a
:class:`~critic.records.TrainingSample`; the dataset builder and the trainer's tests both use it,
so what is trained is what :meth:`Template.parse` reads back.

For pairwise items, ``swapped=True`` renders B first; the verdict is given in the item's original
order and is mapped to the displayed order here, and position words in the rationale are rewritten
(JudgeLM-style swap augmentation).
"""

from __future__ import annotations

from collections.abc import Sequence

from critic.data.clips import clip_fields, with_frames
from critic.judging.pair_order import swap_rationale, swap_verdict
from critic.judging.templates import Template
from critic.judging.verdicts import Verdict
from critic.records import Message, PairwiseItem, PointwiseItem, TrainingSample


def make_sample(
    item: PointwiseItem | PairwiseItem,
    template: Template,
    rationale: str,
    verdict: Verdict,
    *,
    swapped: bool = False,
    source: str | None = None,
    sample_id: str | None = None,
    frames: Sequence[str] = (),
) -> TrainingSample:
    """Render ``item`` with ``template`` and attach the target ``rationale`` + ``verdict``.

    ``verdict`` is named in the item's original order. Image paths in the sample are the item's,
    reordered as the template places them. Raises ``TemplateError`` / ``ValueError`` when the item
    lacks what the template needs or the verdict does not fit the template's scale. ``frames`` are
    a video item's stored frames (:func:`critic.data.clips.store_frames`): they come first, as image
    parts at the start of the user turn and as the first ``images``, and the sample keeps the clip's
    reference.
    """
    if template.task != item.task:
        raise ValueError(f"template {template.name!r} is {template.task}, item {item.id!r} is {item.task}")
    shown = verdict
    if swapped:
        if item.task != "pairwise":
            raise ValueError("only pairwise items can be swapped")
        shown = swap_verdict(verdict)
        rationale = swap_rationale(rationale)
    prompt = template.render_prompt(item, swapped=swapped)
    target = template.render_target(rationale, shown)
    messages = [Message(**m) for m in with_frames(prompt.messages(), frames)]
    messages.append(Message(role="assistant", content=[{"type": "text", "text": target}]))
    return TrainingSample(
        id=sample_id or (f"{item.id}:{template.name}" + (":swapped" if swapped else "")),
        task=item.task,
        images=[*frames, *(item.images[i] for i in prompt.image_order())],
        messages=messages,
        template=template.name,
        template_hash=template.hash,
        source=source,
        verdict=verdict.to_dict(),
        swapped=swapped,
        **(clip_fields(item) if frames else {}),
    )


def gold_verdict(item: PointwiseItem | PairwiseItem, template: Template, gold_scale: tuple[float, float] | None = None) -> Verdict:
    """The item's gold label or score as a verdict for ``template``.

    A gold score on ``gold_scale`` (default: the template's own) is mapped linearly onto the
    template's scale and rounded when the template wants integers:
    ``s' = lo' + (s - lo) · (hi' - lo') / (hi - lo)``.

    >>> from critic.judging.templates import load_template
    >>> t = load_template("llava_critic_pointwise")           # 1–100
    >>> gold_verdict(PointwiseItem(id="x", question="q", response="r", score=10), t, gold_scale=(1, 10))
    Verdict(score=100.0, winner=None, scores=None)
    >>> gold_verdict(PointwiseItem(id="x", question="q", response="r", score=1), t, gold_scale=(1, 10)).score
    1.0
    """
    if isinstance(item, PairwiseItem):
        if item.label is None:
            raise ValueError(f"item {item.id!r} has no gold label")
        if template.verdict_kind == "two_scores":
            scores = (item.meta or {}).get("scores")
            if not scores:
                raise ValueError(f"template {template.name!r} grades both responses; item {item.id!r} has no meta.scores")
            lo, hi = gold_scale or template.scale
            return Verdict(scores=tuple(_rescale(s, (lo, hi), template) for s in scores))  # type: ignore[arg-type]
        return Verdict(winner=item.label)
    if item.score is None:
        raise ValueError(f"item {item.id!r} has no gold score")
    return Verdict(score=_rescale(item.score, gold_scale or template.scale, template))


def _rescale(s: float, src: tuple[float, float], template: Template) -> float:
    lo, hi = src
    tlo, thi = template.scale
    if not lo <= s <= hi:
        raise ValueError(f"gold score {s} is outside its scale {lo}–{hi}")
    v = tlo + (s - lo) * (thi - tlo) / (hi - lo) if hi > lo else tlo
    return float(round(v)) if template.integer else v

"""Toy-world critic training sets with one-sentence rationales (tests, benchmarks, the quickstart).

The toy world's gold rationales (``meta.rationale``) describe the whole scene and every response:
right for a teacher, long for a 1M-parameter critic learning on two CPU cores. Here the rationale
is the one fact the verdict needs, read from the image — "The circle is red." — followed by the
template's verdict, so the critic must look at the picture first and compare the responses with
what it saw second. With the ``compact_*`` templates a sample is about 70 tokens (16 of them image
tokens at 32 px, patch 8).

The layout is what ``critic data build`` writes: ``DIR/{split}.jsonl`` (TrainingSample rows, image
paths relative to ``DIR``) and the images under ``DIR``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from critic.jsonl import JsonlWriter, read_items
from critic.records import PairwiseItem, PointwiseItem
from critic.samples import gold_verdict, make_sample
from critic.templates import load_template
from critic.toy_scene import COLOURS, SHAPES
from critic.toy_world import make_toy, parse_question

TOY_GOLD_SCALE = (1.0, 10.0)
RATIONALE_STYLES = ("compare", "fact")


def short_rationale(item: PointwiseItem | PairwiseItem) -> str:
    """The fact the verdict rests on, as the image shows it: ``"The circle is red."``."""
    meta = item.meta or {}
    truth = meta.get("truth")
    if truth is None:
        raise ValueError(f"item {item.id!r} has no meta.truth (not a toy-world item?)")
    q = parse_question(item.question)
    if q.kind == "colour":
        return f"The {q.shape} is {truth}."
    if q.kind == "shape":
        return f"The {q.colour} object is a {truth}."
    if q.kind == "position":
        return f"The {q.colour} object is on the {truth}."
    if q.kind == "count":
        return f"There {'is' if truth == '1' else 'are'} {truth} {q.subject.removeprefix('the ')}."
    return f"The answer is {truth}."


def _claim(q, response: str, truth: str) -> str:
    """What a colour-question response claims, judged: ``"says red, right"`` / ``"is about the square"``."""
    words = re.findall(r"[a-z]+", response.lower())
    shape = next((w.rstrip("s") for w in words if w.rstrip("s") in SHAPES), None)
    colour = next((w for w in words if w in COLOURS), None)
    if shape is not None and shape != q.shape:
        return f"is about the {shape}"
    if colour is None:
        return "gives no colour"
    return f"says {colour}, {'right' if colour == truth else 'wrong'}"


def compare_rationale(item: PointwiseItem | PairwiseItem) -> str:
    """The fact seen in the image, then what each response claims and whether that is right.

    ``"The circle is red. Response A says red, right. Response B is about the square."`` — every
    step compares words a few tokens apart, so a tiny critic learns it; "Response A/B" is what
    :func:`critic.swap.swap_rationale` rewrites when a pair is shown swapped. Colour questions only;
    other kinds get :func:`short_rationale`.
    """
    q = parse_question(item.question)
    fact = short_rationale(item)
    if q.kind != "colour":
        return fact
    truth = (item.meta or {})["truth"]
    if isinstance(item, PairwiseItem):
        return f"{fact} Response A {_claim(q, item.response_a, truth)}. Response B {_claim(q, item.response_b, truth)}."
    return f"{fact} The response {_claim(q, item.response, truth)}."


def write_items(out_dir: Path, *, task: str, n: int, seed: int, kinds: Sequence[str] = ("colour",),
                one_claim: bool = True, image_size: int = 32) -> Path:
    """Toy items (held-out evaluation sets): ``out_dir/items.jsonl`` + images."""
    make_toy(out_dir, n=n, seed=seed, task=task, kinds=kinds, extra_claims=not one_claim,  # type: ignore[arg-type]
             image_size=image_size)
    return out_dir / "items.jsonl"


def write_heldout(out_dir: str | Path, *, n: int, seed: int = 1000, kinds: Sequence[str] = ("colour",),
                  one_claim: bool = True, image_size: int = 32) -> dict[str, Path]:
    """Held-out toy items: ``pairwise`` and ``pointwise`` files, and ``both`` (the two in one file)."""
    out = Path(out_dir)
    paths = {task: write_items(out / task, task=task, n=n, seed=seed + k, kinds=kinds, one_claim=one_claim,
                               image_size=image_size) for k, task in enumerate(("pairwise", "pointwise"))}
    with JsonlWriter(out / "both.jsonl", relative_to=out) as writer:
        for path in paths.values():
            for item in read_items(path, strict=True)[0]:
                writer.write(item)
    return {**paths, "both": out / "both.jsonl"}


def write_training_set(out_dir: str | Path, *, n_pairwise: int, n_pointwise: int, seed: int = 0,
                       kinds: Sequence[str] = ("colour",), one_claim: bool = True, image_size: int = 32,
                       pointwise_template: str = "compact_pointwise", pairwise_template: str = "compact_pairwise",
                       split: str = "train", text_only: int = 0, rationale: str = "compare") -> Path:
    """Write ``out_dir/{split}.jsonl``: toy items of both tasks as training samples with short rationales.

    ``rationale``: ``compare`` (:func:`compare_rationale`) or ``fact`` (:func:`short_rationale`).
    ``text_only`` adds that many pointwise samples with the image removed (mixed-batch tests).
    Returns the JSONL path.
    """
    if rationale not in RATIONALE_STYLES:
        raise ValueError(f"rationale must be one of {RATIONALE_STYLES}, got {rationale!r}")
    why = compare_rationale if rationale == "compare" else short_rationale
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{split}.jsonl"
    with JsonlWriter(path, relative_to=out) as writer:
        for task, n, tname, offset in (("pairwise", n_pairwise, pairwise_template, 1),
                                       ("pointwise", n_pointwise, pointwise_template, 2)):
            if n <= 0:
                continue
            items_path = write_items(out / f"{split}_{task}", task=task, n=n, seed=seed * 10 + offset,
                                     kinds=kinds, one_claim=one_claim, image_size=image_size)
            items, errors = read_items(items_path, strict=True)
            template = load_template(tname)
            for item in items:
                verdict = gold_verdict(item, template, gold_scale=TOY_GOLD_SCALE)  # type: ignore[arg-type]
                writer.write(make_sample(item, template, why(item), verdict,  # type: ignore[arg-type]
                                         source="toy"))
        if text_only:
            items_path = write_items(out / f"{split}_text", task="pointwise", n=text_only, seed=seed * 10 + 3,
                                     kinds=kinds, one_claim=one_claim, image_size=image_size)
            items, _ = read_items(items_path, strict=True)
            template = load_template(pointwise_template)
            for item in items:
                item.images = []
                verdict = gold_verdict(item, template, gold_scale=TOY_GOLD_SCALE)  # type: ignore[arg-type]
                writer.write(make_sample(item, template, why(item), verdict,  # type: ignore[arg-type]
                                         source="toy-text", sample_id=f"{item.id}:text"))
    return path

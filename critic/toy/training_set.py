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

from collections.abc import Sequence
from pathlib import Path

from critic.data.samples import gold_verdict, make_sample
from critic.jsonl import JsonlWriter, read_items
from critic.judging.templates import load_template
from critic.records import PairwiseItem, PointwiseItem
from critic.toy import rationale as toy_rationale
from critic.toy.world import make_toy, parse_question

TOY_GOLD_SCALE = (1.0, 10.0)
RATIONALE_STYLES = toy_rationale.STYLES


def _truth(item: PointwiseItem | PairwiseItem) -> str:
    truth = (item.meta or {}).get("truth")
    if truth is None:
        raise ValueError(f"item {item.id!r} has no meta.truth (not a toy-world item?)")
    return truth


def short_rationale(item: PointwiseItem | PairwiseItem) -> str:
    """The fact the verdict rests on, as the image shows it: ``"The circle is red."``."""
    return toy_rationale.fact(parse_question(item.question), _truth(item))


def compare_rationale(item: PointwiseItem | PairwiseItem) -> str:
    """The fact seen in the image, then what each response claims (:func:`critic.toy.rationale.compare`)."""
    responses = [item.response] if isinstance(item, PointwiseItem) else [item.response_a, item.response_b]
    return toy_rationale.compare(parse_question(item.question), _truth(item), responses)


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

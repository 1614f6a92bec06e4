"""Toy-world preference pairs for reward models, written directly (tests, benchmarks).

Pairwise toy items with one-claim colour answers, ties dropped; the chosen answer is the one the
world grades higher. Each answer carries a critique in the oracle's ``compare`` style — the colour
the image shows, then what the answer claims ("The circle is red. The response says blue, wrong.") —
as ``critic data build data_recipes/toy_pairs.yaml`` gets it from the oracle teacher.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from critic.reward.pairs import PreferencePair, pair_from_item
from critic.toy import rationale as toy_rationale
from critic.toy.scene import parse_question
from critic.toy.world import make_toy


def critique(question: str, truth: str, response: str) -> str:
    """The toy critique of one answer: the fact, then the answer's claim judged."""
    return toy_rationale.compare(parse_question(question), truth, [response])


def write_toy_pairs(out_dir: str | Path, *, n: int, seed: int = 0, kinds: Sequence[str] = ("colour",),
                    image_size: int = 32, split: str = "train") -> Path:
    """Write ``out_dir/{split}.jsonl`` (PreferencePair rows, critiques included) and the images; returns the path."""
    import json

    from critic.jsonl import read_items

    out = Path(out_dir)
    src = out / f"{split}-items"
    make_toy(src, n=n, seed=seed, task="pairwise", kinds=kinds, extra_claims=False, image_size=image_size)
    items = read_items(src / "items.jsonl", strict=True)[0]
    path = out / f"{split}.jsonl"
    with open(path, "w", encoding="utf-8") as fh:
        for it in items:
            pair = pair_from_item(it, source="toy")
            if pair is None:
                continue
            truth = it.meta["truth"]
            pair = PreferencePair(**{**pair.model_dump(), "images": [str(Path(i).relative_to(out.resolve()))
                                                                     if Path(i).is_absolute() else i
                                                                     for i in pair.images],
                                     "chosen_critique": critique(it.question, truth, pair.chosen),
                                     "rejected_critique": critique(it.question, truth, pair.rejected),
                                     "meta": {"truth": truth}})
            fh.write(json.dumps(pair.model_dump(mode="json", exclude_none=True)) + "\n")
    return path

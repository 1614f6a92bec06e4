"""Source ``toy``: toy-world items generated on the fly (:func:`critic.toy.world.generate_items`).

Images stay in memory until the dataset builder writes them (content-hashed) into the dataset;
gold scores are on the toy scale 1-10, and ``meta.rationale`` holds the gold rationale.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from critic.data.recipe import ToySource
from critic.data.sources import SourceEvent, SourceItem
from critic.toy.world import DEFAULT_KINDS, generate_items

TOY_SCALE = (1.0, 10.0)


def read(cfg: ToySource, recipe_path: str | Path) -> Iterator[SourceEvent]:
    kinds = tuple(cfg.kinds) if cfg.kinds else DEFAULT_KINDS
    for i, (item, images) in enumerate(generate_items(cfg.n, cfg.seed, cfg.task, image_size=cfg.image_size,
                                                      kinds=kinds, extra_claims=not cfg.one_claim,
                                                      off_topic_rate=cfg.off_topic_rate, tie_rate=cfg.tie_rate,
                                                      two_object_rate=cfg.two_object_rate)):
        yield SourceItem(item, f"toy:{cfg.task}:seed{cfg.seed}:{i}", pil_images=images,  # type: ignore[arg-type]
                         gold_scale=cfg.gold_scale or TOY_SCALE)

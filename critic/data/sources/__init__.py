"""Sources of items for ``critic data build``: one converter module per input format.

Every converter turns its input into a stream of :class:`SourceItem` (a pointwise or pairwise item,
where it came from as ``file:line``, in-memory images if it has them, the scale of its gold
scores) interleaved with :class:`SourceProblem` (a line that could not become an item, and why).
A problem never stops the stream. :func:`open_source` picks the converter for a recipe entry. Files of
rows (JSON array, JSONL, CSV) are read with :func:`critic.rows.read_rows` and columns mapped with the
vocabulary of :mod:`critic.rows` (``columns``, ``label_map``), the one benchmark definitions use.

| kind | module | reads |
| --- | --- | --- |
| ``jsonl`` | :mod:`critic.data.sources.jsonl_items` | critic's JSONL item records |
| ``toy`` | :mod:`critic.toy.source` | toy-world items generated on the fly |
| ``hf_disk`` | :mod:`critic.data.sources.hf_disk` | a ``datasets`` dataset saved to disk, columns mapped |
| ``llava`` | :mod:`critic.data.sources.llava` | LLaVA conversation JSON (LLaVA-Critic-113k) |
| ``pairwise_file`` | :mod:`critic.data.sources.pairwise_file` | JSON / JSONL / CSV preference pairs, columns mapped |
| ``pandalm`` | :mod:`critic.data.sources.benchmark` | PandaLM's test set (via :mod:`critic.evaluation.benchmarks.pandalm`) |
| ``vlrewardbench`` | :mod:`critic.data.sources.benchmark` | VL-RewardBench ``data.jsonl`` (via :mod:`critic.evaluation.benchmarks.vl_rewardbench`) |
| ``benchmark`` | :mod:`critic.data.sources.benchmark` | any loader of :mod:`critic.evaluation.benchmarks` |
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from critic.records import PairwiseItem, PointwiseItem

# Stable reason names, used as keys in stats.json.
MALFORMED = "malformed line"
MISSING_FIELD = "missing field"
INVALID_FIELD = "invalid field"
NOT_JUDGEABLE = "not a pointwise or pairwise item"
NO_MAJORITY = "no majority label"
UNPARSEABLE = "unparseable conversation"
UNKNOWN_TEMPLATE = "unknown template"


@dataclass
class SourceItem:
    """One item read from a source.

    ``pil_images`` holds the pictures when the source has them in memory (toy world, image columns
    of a ``datasets`` table), in ``item.images`` order; otherwise ``item.images`` are file paths.
    ``gold_scale`` is the scale of ``item.score`` (None: the template's own scale).
    """

    item: PointwiseItem | PairwiseItem
    where: str
    pil_images: list[Image.Image] | None = None
    gold_scale: tuple[float, float] | None = None


@dataclass(frozen=True)
class SourceProblem:
    """An input that could not become an item: ``where`` is ``file:line``, ``reason`` a stable name."""

    where: str
    reason: str
    detail: str


SourceEvent = SourceItem | SourceProblem

_MODULES = {"jsonl": "critic.data.sources.jsonl_items", "toy": "critic.toy.source",
            "hf_disk": "critic.data.sources.hf_disk", "llava": "critic.data.sources.llava",
            "pairwise_file": "critic.data.sources.pairwise_file", "pandalm": "critic.data.sources.benchmark",
            "vlrewardbench": "critic.data.sources.benchmark", "benchmark": "critic.data.sources.benchmark"}


def open_source(cfg: Any, recipe_path: str | Path) -> Iterator[SourceEvent]:
    """The events of the source configured by ``cfg`` (a :mod:`critic.data.recipe` source model)."""
    module = importlib.import_module(_MODULES[cfg.kind])
    events: Iterator[SourceEvent] = module.read(cfg, recipe_path)
    n = 0
    for ev in events:
        if isinstance(ev, SourceItem):
            if cfg.limit is not None and n >= cfg.limit:
                return
            n += 1
        yield ev


def make_item(data: dict[str, Any], where: str) -> PointwiseItem | PairwiseItem | SourceProblem:
    """Validate a field dict as a pointwise or pairwise item (by its keys), or say what is wrong."""
    from pydantic import ValidationError

    cls = PairwiseItem if ("response_a" in data or "response_b" in data) else PointwiseItem
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(record)"
        reason = MISSING_FIELD if err["type"] == "missing" else INVALID_FIELD
        return SourceProblem(where, reason, f"{field}: {err['msg']}")

"""Sources ``pandalm``, ``vlrewardbench`` and ``benchmark``: benchmark files read by :mod:`critic.evaluation.benchmarks`.

The judge-benchmark loaders of :mod:`critic.evaluation.benchmarks` (one module per benchmark, each with
``load(path, *, image_root, options)``) already turn these files into items with gold labels; this
adapter reuses them instead of parsing the formats a second time:

* ``pandalm`` — PandaLM's test set (``critic.evaluation.benchmarks.pandalm``: question = instruction + input,
  label = the majority of the three annotators; a three-way split has no majority and is reported);
* ``vlrewardbench`` — VL-RewardBench's ``data.jsonl`` (``critic.evaluation.benchmarks.vl_rewardbench``:
  ``human_ranking`` ``[0, 1]`` → A, ``[1, 0]`` → B; ``image_path`` relative to ``image_folder``,
  by default the file's folder);
* ``benchmark`` — any other loader of that package, named by ``loader:`` with its ``options:``.

Benchmark files are small (about a thousand rows); the loaders collect their items whole. A row the loader
cannot use becomes a problem at its ``file:line``; items carry ``file[id=...]`` as their origin
(the loaders do not keep line numbers of the rows they accept).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from pathlib import Path

from critic.data.recipe import BenchmarkSource, PandaLMSource, VLRewardBenchSource, resolve_path
from critic.data.sources import (
    INVALID_FIELD,
    MALFORMED,
    MISSING_FIELD,
    NO_MAJORITY,
    SourceEvent,
    SourceItem,
    SourceProblem,
)

LOADERS = {"pandalm": "pandalm", "vlrewardbench": "vl_rewardbench"}
_PROBLEM = re.compile(r"^(?P<line>\d+): (?P<id>.*?): (?P<msg>.*)$", re.S)


def _reason(msg: str) -> str:
    low = msg.lower()
    if "no majority" in low:
        return NO_MAJORITY
    if "image not found" in low:
        return "missing image"
    if "not valid json" in low or "expected an object" in low:
        return MALFORMED
    if ": missing" in low or "field required" in low:
        return MISSING_FIELD
    return INVALID_FIELD


def read(cfg: PandaLMSource | VLRewardBenchSource | BenchmarkSource, recipe_path: str | Path) -> Iterator[SourceEvent]:
    from critic.evaluation.benchmarks import BenchmarkError

    path = resolve_path(recipe_path, cfg.path)
    loader = cfg.loader if isinstance(cfg, BenchmarkSource) else LOADERS[cfg.kind]
    folder = getattr(cfg, "image_folder", None)
    root = resolve_path(recipe_path, folder) if folder else path.parent
    options = dict(getattr(cfg, "options", None) or {})
    try:
        module = importlib.import_module(f"critic.evaluation.benchmarks.{loader}")
        result = module.load(path, image_root=root, options=options)
    except (ModuleNotFoundError, BenchmarkError, OSError) as exc:
        yield SourceProblem(f"{path}:0", MALFORMED, f"{loader}: {exc}")
        return
    prefix = f"{path}:"
    for line in result.problems:
        rest = line[len(prefix):] if line.startswith(prefix) else line
        m = _PROBLEM.match(rest)
        if m:
            yield SourceProblem(f"{path}:{m['line']}", _reason(m["msg"]), f"{m['id']}: {m['msg']}")
        else:
            yield SourceProblem(f"{path}:0", _reason(rest), rest)
    for item in result.items:
        yield SourceItem(item, f"{path}[id={item.id}]", gold_scale=cfg.gold_scale)

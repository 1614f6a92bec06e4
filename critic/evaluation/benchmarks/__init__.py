"""Published judge benchmarks turned into critic items with gold labels.

A benchmark is a YAML definition in ``eval/`` (shipped in the wheel as ``critic.eval_configs``)
naming a *loader* — a module of this package with a ``load(path, *, image_root, options)`` function
— and the defaults ``critic eval-bench`` uses (judge template, swap policy, gold scale). A loader
reads the benchmark's own files and returns :class:`LoadResult`: typed items
(:class:`~critic.records.PairwiseItem` / :class:`~critic.records.PointwiseItem`) carrying the gold
``label`` or ``score``, ``group`` and ``question_id``, plus one problem line per row it could not
use (``file:line: id: what is wrong`` — a missing image included). The items file it writes
doubles as the gold file of ``critic eval``. Loaders read rows with :func:`critic.rows.read_rows`
(JSON array, JSONL or CSV; through :class:`Collector`) and map columns with the vocabulary of
:mod:`critic.rows` (``columns``, ``label_map``: the ``generic`` loader).

>>> sorted(s.name for s in list_specs())[:3]
['generic_pairwise', 'generic_pointwise', 'mllm_judge_batch']
>>> load_spec("vl_rewardbench").loader
'vl_rewardbench'
"""

from __future__ import annotations

import hashlib
import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from critic.assets import asset_dir
from critic.records import PairwiseItem, PointwiseItem
from critic.rows import ColumnError, read_rows

BenchItem = PairwiseItem | PointwiseItem


class BenchmarkSpec(BaseModel):
    """A benchmark definition (one ``eval/*.yaml`` file)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    loader: str
    task: Literal["pairwise", "pointwise"]
    source: str = Field(description="default data file name inside the folder given with --data")
    homepage: str | None = None
    licence: str | None = None
    citation: str | None = None
    groups: list[str] = Field(default_factory=list)
    headline: list[str] = Field(default_factory=list)
    template: str | None = None
    swap: Literal["none", "random", "both"] = "none"
    gold_scale: tuple[float, float] | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    path: str | None = None


class BenchmarkError(ValueError):
    """A benchmark definition or data file that cannot be used at all."""


@dataclass
class LoadResult:
    """What a loader made of a benchmark file."""

    items: list[BenchItem] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    n_rows: int = 0
    n_skipped: int = 0


def _spec_from(path: Path) -> BenchmarkSpec:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return BenchmarkSpec.model_validate({**data, "path": str(path)})
    except (OSError, yaml.YAMLError) as exc:
        raise BenchmarkError(f"{path}: cannot read: {exc}") from exc
    except ValidationError as exc:
        err = exc.errors()[0]
        raise BenchmarkError(f"{path}: {'.'.join(map(str, err['loc']))}: {err['msg']}") from exc


def list_specs() -> list[BenchmarkSpec]:
    """The shipped benchmark definitions."""
    return [_spec_from(p) for p in sorted(asset_dir("eval_configs").glob("*.yaml"))]


def load_spec(name_or_path: str | Path) -> BenchmarkSpec:
    """A shipped definition by name, or a user's YAML file by path."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.is_file():
        if not p.is_file():
            raise BenchmarkError(f"{p}: no such benchmark definition")
        return _spec_from(p)
    shipped = asset_dir("eval_configs") / f"{name_or_path}.yaml"
    if shipped.is_file():
        return _spec_from(shipped)
    known = ", ".join(s.name for s in list_specs())
    raise BenchmarkError(f"unknown benchmark {name_or_path!r}; known: {known} (or give a .yaml path)")


def load_benchmark(spec: BenchmarkSpec, data: str | Path, *, image_root: str | Path | None = None,
                   limit: int | None = None) -> LoadResult:
    """Run the spec's loader on ``data`` (its file, or a folder holding ``spec.source``)."""
    path = Path(data)
    if path.is_dir():
        path = path / spec.source
    if not path.is_file():
        raise BenchmarkError(f"{path}: benchmark data file not found (download it first; see {spec.homepage or spec.path})")
    name = f"critic.evaluation.benchmarks.{spec.loader}"
    try:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", spec.loader):
            raise ModuleNotFoundError(name=name)
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        raise BenchmarkError(f"{spec.path}: unknown loader {spec.loader!r}") from exc
    root = Path(image_root) if image_root is not None else path.parent
    result: LoadResult = module.load(path, image_root=root, options=dict(spec.options))
    if limit is not None:
        result.items = result.items[:limit]
    return result


# -- helpers shared by the loaders ------------------------------------------------------------
class RowError(ValueError):
    """One unusable row; the loader reports it as ``file:line: id: message`` and goes on."""


def require(row: dict[str, Any], key: str, kind: type | tuple[type, ...] = str) -> Any:
    if key not in row or row[key] is None:
        raise RowError(f"{key}: missing")
    if not isinstance(row[key], kind):
        raise RowError(f"{key}: expected {getattr(kind, '__name__', kind)}, got {type(row[key]).__name__}")
    return row[key]


def find_image(root: Path, rel: Any) -> str:
    """The absolute path of an image under ``root``; a missing file is a :class:`RowError`."""
    if isinstance(rel, dict) and isinstance(rel.get("path"), str):  # HF datasets' Image feature exported to JSON
        rel = rel["path"]
    if not isinstance(rel, str) or not rel:
        raise RowError(f"image: expected a path, got {type(rel).__name__}")
    p = Path(rel)
    p = p if p.is_absolute() else root / p
    if not p.is_file():
        raise RowError(f"image not found: {p}")
    return str(p.resolve())


def coin(key: str, seed: int = 0) -> bool:
    """A fair, reproducible coin per key (which response a loader shows as A)."""
    return bool(hashlib.sha256(f"{seed}:{key}".encode()).digest()[0] & 1)


class Collector:
    """Accumulates items and ``file:line: id: problem`` lines while a loader walks a file."""

    def __init__(self, path: Path):
        self.path = path
        self.result = LoadResult()
        self.ids: set[str] = set()

    def rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(line, row)`` for each readable row; an unreadable one is a problem, and one that ends
        the file early (a syntax error inside a JSON array) makes the file unusable: :class:`BenchmarkError`."""
        for row in read_rows(self.path):
            if row.fatal:
                raise BenchmarkError(f"{row.where}: {row.problem}")
            self.result.n_rows += 1
            if row.value is None:
                self.problem(row.line, None, row.problem or "no row")
                continue
            yield row.line, row.value

    def problem(self, where: int, item_id: Any, msg: str) -> None:
        self.result.n_skipped += 1
        self.result.problems.append(f"{self.path}:{where}: {item_id if item_id is not None else '(row)'}: {msg}")

    def add(self, where: int, make: Any, item_id: Any = None) -> None:
        """Build an item (``make()``), recording a problem instead when it raises."""
        try:
            items = make()
        except (RowError, ColumnError) as exc:
            self.problem(where, item_id, str(exc))
            return
        except ValidationError as exc:
            err = exc.errors()[0]
            self.problem(where, item_id, f"{'.'.join(map(str, err['loc']))}: {err['msg']}")
            return
        except (TypeError, ValueError, KeyError, AttributeError) as exc:  # a value of an unexpected shape
            self.problem(where, item_id, f"unexpected value: {exc}")
            return
        for it in items if isinstance(items, list) else [items]:
            if it.id in self.ids:
                self.problem(where, it.id, "duplicate id; row skipped")
                continue
            self.ids.add(it.id)
            self.result.items.append(it)


__all__ = ["BenchItem", "BenchmarkError", "BenchmarkSpec", "Collector", "LoadResult", "RowError", "coin", "find_image",
           "list_specs", "load_benchmark", "load_spec", "require"]

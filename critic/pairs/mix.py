"""Mixing pair sources with set proportions: as many pairs as the scarcest source allows, shares kept.

With no proportion anywhere every row is kept. Otherwise each source with a proportion p takes
``round(T · p / Σp)`` of its rows (a seeded sample), T the largest total for which no source runs
short (capped by ``max_pairs``); sources without a proportion are left out of the mix.

>>> plan_mix({"a": 100, "b": 10}, {"a": 0.5, "b": 0.5})
{'a': 10, 'b': 10}
>>> plan_mix({"a": 100, "b": 10}, {"a": 0.8, "b": 0.2}, max_pairs=20)
{'a': 16, 'b': 4}
>>> plan_mix({"a": 3, "b": 4}, {})
{'a': 3, 'b': 4}
"""

from __future__ import annotations

import random
from typing import Any


def plan_mix(counts: dict[str, int], proportions: dict[str, float | None],
             max_pairs: int | None = None) -> dict[str, int]:
    """How many rows each source contributes."""
    props = {s: p for s, p in proportions.items() if p}
    if not props:
        take = dict(counts)
        total: float = sum(take.values())
        if max_pairs is not None and total > max_pairs:
            take = {s: int(n * max_pairs / total) for s, n in counts.items()}
        return take
    z = sum(props.values())
    total = min(counts.get(s, 0) / (p / z) for s, p in props.items())
    if max_pairs is not None:
        total = min(total, max_pairs)
    return {s: (min(counts.get(s, 0), round(total * props[s] / z)) if s in props else 0) for s in counts}


def mix_rows(rows: dict[str, list[dict[str, Any]]], proportions: dict[str, float | None], *,
             max_pairs: int | None = None, seed: int = 0) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The mixed rows (source order, each source's sample in file order) and the plan."""
    plan = plan_mix({s: len(r) for s, r in rows.items()}, proportions, max_pairs)
    out = []
    for s, r in rows.items():
        keep = sorted(random.Random(f"{seed}:{s}").sample(range(len(r)), plan[s])) if plan[s] < len(r) else range(len(r))
        out += [r[i] for i in keep]
    return out, plan

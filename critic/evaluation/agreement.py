"""Agreement between judges beyond chance: Cohen's κ for two, Fleiss' κ for several.

- Cohen (1960): over the items both judged, ``p_o`` = the share they give the same verdict,
  ``p_e = Σ_k p1_k p2_k`` with ``p·_k`` each judge's share of verdict ``k``; ``κ = (p_o − p_e)/(1 − p_e)``.
- Fleiss (1971): over the items every one of ``m`` judges judged, ``n_ik`` judges give item ``i``
  verdict ``k``; ``P_i = (Σ_k n_ik² − m) / (m(m − 1))``, ``P̄`` their mean, ``p_k = Σ_i n_ik/(N m)``,
  ``P_e = Σ_k p_k²``; ``κ = (P̄ − P_e)/(1 − P_e)``.

κ is 1 for perfect agreement, 0 for chance agreement; ``None`` where ``p_e = 1`` (one verdict only).

>>> cohen_kappa(["A", "A", "B", "B"], ["A", "B", "B", "B"])      # p_o = 3/4, p_e = ½·¼ + ½·¾ = ½
0.5
>>> # P_i = 1, 1/3, 1: P̄ = 7/9; p_A = 4/9, p_B = 5/9: P_e = 41/81; κ = (7/9 − 41/81)/(40/81) = 0.55
>>> round(fleiss_kappa([["A", "A", "A"], ["B", "B", "A"], ["B", "B", "B"]]), 4)
0.55
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import combinations
from typing import Any


def cohen_kappa(a: Sequence[Any], b: Sequence[Any]) -> float | None:
    """Cohen's κ of two equally long verdict lists (module docstring)."""
    n = len(a)
    if n == 0:
        return None
    po = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    pe = sum(ca[k] * cb[k] for k in ca) / (n * n)
    return None if pe == 1 else (po - pe) / (1 - pe)


def fleiss_kappa(ratings: Sequence[Sequence[Any]]) -> float | None:
    """Fleiss' κ of items × judges verdicts, every item rated by the same number of judges."""
    if not ratings:
        return None
    m = len(ratings[0])
    if m < 2:
        return None
    counts = [Counter(r) for r in ratings]
    n_items = len(ratings)
    p_bar = sum((sum(v * v for v in c.values()) - m) / (m * (m - 1)) for c in counts) / n_items
    totals: Counter[Any] = Counter()
    for c in counts:
        totals.update(c)
    pe = sum((v / (n_items * m)) ** 2 for v in totals.values())
    return None if pe == 1 else (p_bar - pe) / (1 - pe)


def agreement_table(verdicts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``{judge: {item: verdict}}`` → Cohen's κ per pair (items both judged) and Fleiss' κ (items all judged)."""
    judges = list(verdicts)
    pairs = []
    for x, y in combinations(judges, 2):
        common = [i for i in verdicts[x] if i in verdicts[y]]
        pairs.append({"judges": [x, y], "n": len(common),
                      "agreement": (sum(verdicts[x][i] == verdicts[y][i] for i in common) / len(common)) if common else None,
                      "cohen_kappa": cohen_kappa([verdicts[x][i] for i in common], [verdicts[y][i] for i in common])})
    all_items = [i for i in verdicts[judges[0]] if all(i in verdicts[j] for j in judges)] if judges else []
    return {"pairs": pairs, "fleiss_kappa": fleiss_kappa([[verdicts[j][i] for j in judges] for i in all_items]),
            "n_items_all_judges": len(all_items)}


__all__ = ["agreement_table", "cohen_kappa", "fleiss_kappa"]

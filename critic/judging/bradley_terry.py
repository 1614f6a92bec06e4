"""Bradley–Terry strengths from pairwise outcomes, fitted with Hunter's MM iteration (hand-written).

Model: ``P(i beats j) = p_i / (p_i + p_j)``. Given ``wins[i][j]`` (how often ``i`` beat ``j``; a tie
counts half a win to each side), the minorise–maximise update of Hunter (2004, *MM algorithms for
generalized Bradley–Terry models*, eq. 3) is

    p_i  <-  W_i / sum_{j != i} n_ij / (p_i + p_j)

with ``W_i`` the wins of ``i`` and ``n_ij = wins[i][j] + wins[j][i]`` the comparisons of the pair,
followed by renormalising ``p`` to geometric mean 1. It increases the likelihood at every step and
needs no step size, which is why it is used here instead of a generic optimiser (``scipy.optimize``
would work too; MM is 20 lines, exact for this model and has no tolerance to tune but one).

An answer that won (or lost) every comparison has no finite maximum-likelihood strength, so every
pair that was compared at all also gets ``prior`` pseudo-comparisons split evenly (a symmetric
Beta-like prior on each pair). Strengths are returned as logs (``log p_i``, mean 0), the scale on
which differences are log-odds of winning.

>>> s = fit([[0, 3, 3], [1, 0, 3], [1, 1, 0]])     # 0 beats 1 and 2 mostly; 1 beats 2
>>> s[0] > s[1] > s[2], abs(sum(s)) < 1e-9
(True, True)
>>> fit([[0, 1], [1, 0]])                           # one win each: equal strengths
[0.0, 0.0]
>>> fit([[0, 0], [0, 0]])                           # never compared: no information, all zero
[0.0, 0.0]
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def fit(wins: Sequence[Sequence[float]], *, prior: float = 0.5, max_iter: int = 1000, tol: float = 1e-10) -> list[float]:
    """Log-strengths (mean 0) of the Bradley–Terry model for the win matrix ``wins``.

    ``wins[i][j]`` is how often ``i`` beat ``j`` (non-negative; ties given as 0.5 to each side).
    Items never compared with anything keep strength 0 (the mean).
    """
    k = len(wins)
    if any(len(row) != k for row in wins):
        raise ValueError("wins must be a square matrix")
    w = [[float(wins[i][j]) if i != j else 0.0 for j in range(k)] for i in range(k)]
    if any(x < 0 for row in w for x in row):
        raise ValueError("wins must be non-negative")
    # pseudo-comparisons on every compared pair
    for i in range(k):
        for j in range(i + 1, k):
            if w[i][j] + w[j][i] > 0 and prior > 0:
                w[i][j] += prior / 2
                w[j][i] += prior / 2
    n = [[w[i][j] + w[j][i] for j in range(k)] for i in range(k)]
    active = [i for i in range(k) if sum(n[i]) > 0]
    p = [1.0] * k
    for _ in range(max_iter):
        new = p[:]
        for i in active:
            wins_i = sum(w[i])
            denom = sum(n[i][j] / (p[i] + p[j]) for j in active if j != i and n[i][j] > 0)
            new[i] = wins_i / denom if denom > 0 else p[i]
        # renormalise to geometric mean 1 over the active items
        if active:
            g = math.exp(sum(math.log(max(new[i], 1e-300)) for i in active) / len(active))
            for i in active:
                new[i] /= g
        delta = max((abs(math.log(max(new[i], 1e-300)) - math.log(max(p[i], 1e-300))) for i in active), default=0.0)
        p = new
        if delta < tol:
            break
    logs = [math.log(max(p[i], 1e-300)) if i in active else 0.0 for i in range(k)]
    mean = sum(logs[i] for i in active) / len(active) if active else 0.0
    return [round(x - mean, 12) + 0.0 if i in active else 0.0 for i, x in enumerate(logs)]  # + 0.0: no -0.0

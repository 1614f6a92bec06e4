"""Stratified cluster bootstrap: one set of resamples shared by every metric, group and view.

Each metric of :mod:`critic.evaluation.metrics_pairwise` and :mod:`critic.evaluation.metrics_pointwise` is computed from
per-item values; a bootstrap replicate gives every item an integer *weight* (how many times its
resampling unit was drawn), and the replicate's statistic is the statistic of the weighted items.

- **Unit** (cluster): items are resampled, never single judgments; items sharing a ``question_id``
  are resampled together (a question is one unit), so both orders and repeated samples of an item,
  and all pairs of a question, stay together.
- **Strata**: units are resampled within their ``group`` (each group keeps its size), so per-group
  intervals and the macro average come from the same replicates as the overall numbers.
- **Interval**: the percentile interval ``[q_{(1-c)/2}, q_{(1+c)/2}]`` of the replicates (Efron &
  Tibshirani 1993, ch. 13); replicates where a statistic is undefined (e.g. no swapped judgment was
  drawn) are left out of its quantiles.

Why not ``scipy.stats.bootstrap``: it resamples one statistic's input arrays per call (a ``B × n``
gather for each of ~40 statistics), cannot resample clusters within strata, and its default BCa
interval needs an ``O(n²)`` jackknife; 1,000 resamples over 100,000 judgments must take seconds.
So the resampling is written here (weights drawn once per chunk, statistics as matrix products);
``tests/test_metrics_bootstrap.py`` checks its intervals against ``scipy.stats.bootstrap`` with
``method="percentile"`` on data where both apply.

>>> r = Resampler(strata=[0, 0, 1], clusters=[0, 1, 2], n_resamples=4, seed=1)
>>> w = np.concatenate(list(r.weights()))
>>> w.shape, bool((w[:, :2].sum(axis=1) == 2).all()), bool((w[:, 2] == 1).all())
((4, 3), True, True)
>>> percentile_interval(np.array([1.0, 2.0, 3.0, np.nan, 5.0]), 0.5)
(1.75, 3.5)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

#: Largest number of float64 cells (replicates × items) held at once; about 32 MB.
CHUNK_CELLS = 4_000_000


def _compact(values: Sequence[int] | np.ndarray) -> np.ndarray:
    return np.unique(np.asarray(values), return_inverse=True)[1].astype(np.int64)


@dataclass
class Resampler:
    """Draws bootstrap weights for items: ``weights()`` yields ``(chunk, n_items)`` arrays.

    ``strata[i]`` is item ``i``'s stratum (group), ``clusters[i]`` its resampling unit; a unit must
    lie inside one stratum. The same seed gives the same weights.
    """

    strata: Sequence[int] | np.ndarray
    clusters: Sequence[int] | np.ndarray
    n_resamples: int = 1000
    seed: int = 0
    chunk_cells: int = CHUNK_CELLS
    _cluster_of_item: np.ndarray = field(init=False, repr=False)
    _strata_clusters: list[np.ndarray] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        strata = np.asarray(self.strata, dtype=np.int64)
        clusters = _compact(self.clusters) if len(self.clusters) else np.zeros(0, np.int64)
        if strata.shape != clusters.shape:
            raise ValueError("strata and clusters must have one entry per item")
        if self.n_resamples < 1:
            raise ValueError("n_resamples must be at least 1")
        n_clusters = int(clusters.max()) + 1 if clusters.size else 0
        stratum_of_cluster = np.full(n_clusters, -1, np.int64)
        stratum_of_cluster[clusters] = strata
        if clusters.size and not np.array_equal(stratum_of_cluster[clusters], strata):
            raise ValueError("a resampling unit (question) spans several strata (groups)")
        self._cluster_of_item = clusters
        self._strata_clusters = [np.flatnonzero(stratum_of_cluster == s) for s in np.unique(strata)]

    @property
    def n_items(self) -> int:
        return int(self._cluster_of_item.size)

    def weights(self) -> Iterator[np.ndarray]:
        """Yield item weights, ``n_resamples`` rows in all, in chunks of bounded size.

        Row ``r`` draws, stratum by stratum, ``m`` units uniformly with replacement among the
        stratum's ``m`` units and counts them; the random stream does not depend on the chunking.
        """
        rng = np.random.default_rng(self.seed)
        n_clusters = sum(c.size for c in self._strata_clusters)
        direct = np.array_equal(self._cluster_of_item, np.arange(self.n_items))
        ranges = [(int(c[0]), int(c[-1]) + 1) if c.size and c[-1] - c[0] + 1 == c.size else None
                  for c in self._strata_clusters]
        chunk = max(1, min(self.n_resamples, self.chunk_cells // max(1, self.n_items)))
        done = 0
        while done < self.n_resamples:
            b = min(chunk, self.n_resamples - done)
            wc = np.empty((b, n_clusters))
            for r in range(b):  # one row at a time: a bincount per row is cache-friendly
                for members, rng_range in zip(self._strata_clusters, ranges):
                    m = members.size
                    counts = np.bincount(rng.integers(0, m, size=m), minlength=m)
                    if rng_range is not None:
                        wc[r, rng_range[0]:rng_range[1]] = counts
                    else:
                        wc[r, members] = counts
            yield wc if direct else wc[:, self._cluster_of_item]
            done += b


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with NaN where ``den == 0`` (a statistic with no data in that replicate)."""
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def percentile_interval(replicates: np.ndarray, confidence: float = 0.95) -> tuple[float, float] | None:
    """Percentile interval of bootstrap replicates, NaNs left out; ``None`` when all are NaN."""
    reps = np.asarray(replicates, dtype=float)
    reps = reps[~np.isnan(reps)]
    if reps.size == 0:
        return None
    alpha = (1.0 - confidence) / 2.0
    lo, hi = np.quantile(reps, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its bootstrap interval (``None`` where undefined)."""

    value: float | None
    ci: tuple[float, float] | None = None

    @classmethod
    def of(cls, value: float | np.floating | None, replicates: np.ndarray | None, confidence: float) -> Estimate:
        v = None if value is None or not np.isfinite(value) else float(value)
        ci = None if v is None or replicates is None else percentile_interval(replicates, confidence)
        return cls(v, ci)

    def to_pair(self) -> tuple[float | None, list[float] | None]:
        return self.value, (list(self.ci) if self.ci is not None else None)


__all__ = ["CHUNK_CELLS", "Estimate", "Resampler", "percentile_interval", "ratio"]

"""Pearson, Spearman and Kendall τ-b of bootstrap-weighted samples, many replicates at once.

A bootstrap replicate repeats item ``i`` ``w_i`` times (:mod:`critic.evaluation.bootstrap`). The functions here
compute a correlation *of the repeated sample* for every row of a weight matrix ``W`` (``b × n``)
without materialising the repeats. Point estimates use scipy (``pearsonr``, ``spearmanr``,
``kendalltau(variant="b")``); scipy has no weighted or batched form of these, so the replicate
kernels are written here, and ``tests/test_metrics_pointwise.py`` checks each against scipy on
``np.repeat``-ed data.

- Pearson: ``r = cov_w(x, y) / sqrt(var_w(x) var_w(y))`` from weighted sums of centred values.
- Spearman: Pearson of mid-ranks. For a distinct value ``v`` drawn ``G_v`` times after ``C_v`` draws
  of smaller values, its mid-rank in the repeated sample is ``C_v + (G_v + 1) / 2`` (ties share the
  mean rank, as ``scipy.stats.rankdata``), computed by cumulative sums over the sorted values.
- Kendall τ-b: ``(P − Q) / sqrt((n0 − n1)(n0 − n2))`` with ``n0 = N(N−1)/2``, ``n1 = Σ r(r−1)/2``
  over tie groups of x (``n2`` the same for y), ``P`` / ``Q`` concordant / discordant pairs counted on
  the weighted contingency table ``T[u, v]`` of distinct (x, y) values:
  ``P − Q = Σ T[u,v] (Σ_{u'>u, v'>v} T[u',v'] − Σ_{u'>u, v'<v} T[u',v'])`` (Kendall 1945, Agresti
  2010 §2.4). Exact for every replicate; used while the table has at most ``MAX_TABLE_CELLS`` cells
  (judge and gold scales have at most a few hundred values), else each replicate calls scipy.

>>> s = PairedSample([1, 2, 3, 4], [1, 3, 2, 4])
>>> w = np.array([[1, 1, 1, 1], [2, 0, 1, 1]], dtype=float)  # row 2: x = 1 1 3 4, y = 1 1 2 4
>>> np.round(s.pearson(w), 4).tolist(), np.round(s.spearman(w), 4).tolist(), np.round(s.kendall_b(w), 4).tolist()
([0.8, 0.9428], [0.8, 1.0], [0.6667, 1.0])
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import sparse, stats

MAX_TABLE_CELLS = 250_000
_CHUNK_CELLS = 4_000_000


def _row_pearson(w: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Weighted Pearson per row; ``a`` and ``b`` are ``(n,)`` or ``(rows, n)``."""
    sw = w.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ma = (w * a).sum(axis=1) / sw
        mb = (w * b).sum(axis=1) / sw
        da = a - ma[:, None]
        db = b - mb[:, None]
        cov = (w * da * db).sum(axis=1)
        va = (w * da * da).sum(axis=1)
        vb = (w * db * db).sum(axis=1)
        scale_a = (w * a * a).sum(axis=1)
        scale_b = (w * b * b).sum(axis=1)
        bad = (va <= 1e-12 * np.maximum(scale_a, 1e-300)) | (vb <= 1e-12 * np.maximum(scale_b, 1e-300)) | (sw < 2)
        r = cov / np.sqrt(va * vb)
    r = np.clip(r, -1.0, 1.0)
    r[bad] = np.nan
    return r


class PairedSample:
    """Paired scores ``(x_i, y_i)`` prepared for weighted correlations of many replicates."""

    def __init__(self, x, y):
        self.x = np.asarray(x, dtype=float)
        self.y = np.asarray(y, dtype=float)
        if self.x.shape != self.y.shape or self.x.ndim != 1:
            raise ValueError("x and y must be 1-d and of equal length")
        self.xc = self.x - (self.x.mean() if self.x.size else 0.0)
        self.yc = self.y - (self.y.mean() if self.y.size else 0.0)
        self.ux, self.ix = np.unique(self.x, return_inverse=True)
        self.uy, self.iy = np.unique(self.y, return_inverse=True)
        self.ox = np.argsort(self.ix, kind="stable")
        self.oy = np.argsort(self.iy, kind="stable")
        self.sx = np.searchsorted(self.ix[self.ox], np.arange(self.ux.size))
        self.sy = np.searchsorted(self.iy[self.oy], np.arange(self.uy.size))

    @property
    def n(self) -> int:
        return int(self.x.size)

    # -- point estimates (scipy) -----------------------------------------------------------
    def point(self) -> dict[str, float]:
        """Pearson, Spearman and Kendall τ-b of the unweighted sample (NaN where undefined)."""
        if self.n < 2 or self.ux.size < 2 or self.uy.size < 2:
            return {"pearson": np.nan, "spearman": np.nan, "kendall_tau": np.nan}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return {
                "pearson": float(stats.pearsonr(self.x, self.y).statistic),
                "spearman": float(stats.spearmanr(self.x, self.y).statistic),
                "kendall_tau": float(stats.kendalltau(self.x, self.y, variant="b").statistic),
            }

    # -- replicates (hand-written: scipy has no weighted form) ------------------------------
    def pearson(self, w: np.ndarray) -> np.ndarray:
        return _row_pearson(w, self.xc, self.yc)

    def _midranks(self, w: np.ndarray, order: np.ndarray, starts: np.ndarray, inverse: np.ndarray) -> np.ndarray:
        g = np.add.reduceat(w[:, order], starts, axis=1) if starts.size else np.zeros((w.shape[0], 0))
        mid = np.cumsum(g, axis=1) - g + (g + 1.0) / 2.0
        return mid[:, inverse]

    def spearman(self, w: np.ndarray) -> np.ndarray:
        if self.n == 0:
            return np.full(w.shape[0], np.nan)
        rx = self._midranks(w, self.ox, self.sx, self.ix)
        ry = self._midranks(w, self.oy, self.sy, self.iy)
        return _row_pearson(w, rx, ry)

    def kendall_b(self, w: np.ndarray) -> np.ndarray:
        if self.n == 0:
            return np.full(w.shape[0], np.nan)
        if self.ux.size * self.uy.size > MAX_TABLE_CELLS:
            return self._kendall_scipy(w)
        return TableCorrelator(self.x, self.y)(w)["kendall_tau"][:, 0]

    def _kendall_scipy(self, w: np.ndarray) -> np.ndarray:
        out = np.full(w.shape[0], np.nan)
        counts = np.rint(w).astype(np.int64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for k in range(w.shape[0]):
                xs, ys = np.repeat(self.x, counts[k]), np.repeat(self.y, counts[k])
                if xs.size >= 2:
                    out[k] = stats.kendalltau(xs, ys, variant="b").statistic
        return out


def table_correlations(t: np.ndarray, ux: np.ndarray, uy: np.ndarray) -> dict[str, np.ndarray]:
    """Pearson, Spearman and Kendall τ-b of the samples that weighted tables ``t`` (``b × U × V``,
    ``t[r, u, v]`` = weight of value pair ``(ux[u], uy[v])``) describe."""
    rows, cols = t.sum(axis=2), t.sum(axis=1)
    n = rows.sum(axis=1)
    xc, yc = ux - ux.mean(), uy - uy.mean()
    pearson = _moments_r(n, rows @ xc, cols @ yc, rows @ xc**2, cols @ yc**2, np.einsum("buv,u,v->b", t, xc, yc))
    mid_x = np.cumsum(rows, axis=1) - rows + (rows + 1.0) / 2.0
    mid_y = np.cumsum(cols, axis=1) - cols + (cols + 1.0) / 2.0
    spearman = _moments_r(n, (rows * mid_x).sum(1), (cols * mid_y).sum(1), (rows * mid_x**2).sum(1),
                          (cols * mid_y**2).sum(1), np.einsum("buv,bu,bv->b", t, mid_x, mid_y))
    below = t[:, ::-1, :].cumsum(axis=1)[:, ::-1, :] - t  # Σ over rows u' > u
    right = below[:, :, ::-1].cumsum(axis=2)[:, :, ::-1] - below  # … and columns v' > v
    left = below.cumsum(axis=2) - below  # … and columns v' < v
    s = (t * (right - left)).sum(axis=(1, 2))
    n0 = n * (n - 1) / 2
    n1 = (rows * (rows - 1) / 2).sum(axis=1)
    n2 = (cols * (cols - 1) / 2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        den = np.sqrt(np.maximum(n0 - n1, 0) * np.maximum(n0 - n2, 0))
        tau = np.where(den > 0, s / np.where(den > 0, den, 1.0), np.nan)
    return {"pearson": pearson, "spearman": spearman, "kendall_tau": np.clip(tau, -1.0, 1.0)}


def _moments_r(n, sx, sy, sxx, syy, sxy) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = sx / n, sy / n
        vx, vy = sxx / n - mx * mx, syy / n - my * my
        cov = sxy / n - mx * my
        bad = (n < 2) | (vx <= 1e-12 * np.maximum(sxx / n, 1e-300)) | (vy <= 1e-12 * np.maximum(syy / n, 1e-300))
        r = cov / np.sqrt(vx * vy)
    r = np.clip(r, -1.0, 1.0)
    r[bad] = np.nan
    return r


class TableCorrelator:
    """Correlations of weighted replicates through contingency tables of distinct value pairs.

    With ``groups`` (an int per item, ``0 … n_groups − 1``) one sparse product per chunk of
    replicates gives every group's table; the overall table is their sum. Calling returns
    ``{name: (b, 1 + n_groups)}`` arrays (column 0 overall, column ``1 + g`` group ``g``); without
    ``groups``, ``(b, 1)`` arrays.
    """

    def __init__(self, x, y, mask=None, groups=None, n_groups: int = 1):
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        keep = np.ones(x.size, bool) if mask is None else np.asarray(mask, bool)
        self.ux, ix = np.unique(x[keep], return_inverse=True)
        self.uy, iy = np.unique(y[keep], return_inverse=True)
        self.cells = self.ux.size * self.uy.size
        self.n_groups = max(1, n_groups)
        self.grouped = groups is not None
        g = np.zeros(x.size, np.int64) if groups is None else np.asarray(groups, np.int64)
        rows = np.flatnonzero(keep)
        cols = g[rows] * self.cells + ix * self.uy.size + iy
        self._s = sparse.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(x.size, max(1, self.cells * self.n_groups)))

    @staticmethod
    def fits(x, y, mask=None, n_groups: int = 1) -> bool:
        keep = slice(None) if mask is None else np.asarray(mask, bool)
        cells = np.unique(np.asarray(x)[keep]).size * np.unique(np.asarray(y)[keep]).size
        return cells <= MAX_TABLE_CELLS and cells * max(1, n_groups) <= 4 * MAX_TABLE_CELLS

    def __call__(self, w: np.ndarray) -> dict[str, np.ndarray]:
        names = ("pearson", "spearman", "kendall_tau")
        if self.cells == 0:
            return {k: np.full((w.shape[0], 1 + (self.n_groups if self.grouped else 0)), np.nan) for k in names}
        step = max(1, _CHUNK_CELLS // (self.cells * self.n_groups))
        parts: list[dict[str, np.ndarray]] = []
        for i in range(0, w.shape[0], step):
            t = np.asarray(w[i:i + step] @ self._s).reshape(-1, self.n_groups, self.ux.size, self.uy.size)
            cols = [table_correlations(t.sum(axis=1), self.ux, self.uy)]
            if self.grouped:
                cols += [table_correlations(t[:, g], self.ux, self.uy) for g in range(self.n_groups)]
            parts.append({k: np.stack([c[k] for c in cols], axis=1) for k in names})
        return {k: np.concatenate([p[k] for p in parts]) for k in names}


def row_rank_correlations(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spearman and Kendall τ-b between ``a[k]`` and ``b[k]`` for each row (few columns: models).

    τ-b is ``Σ_{i<j} sgn(a_i−a_j) sgn(b_i−b_j) / sqrt(Σ_{i<j} |sgn(a_i−a_j)| · Σ_{i<j} |sgn(b_i−b_j)|)``;
    a row with a NaN gives NaN.

    >>> sp, kt = row_rank_correlations(np.array([[1.0, 2, 3]]), np.array([[1.0, 3, 2]]))
    >>> round(float(sp[0]), 4), round(float(kt[0]), 4)
    (0.5, 0.3333)
    """
    a, b = np.atleast_2d(a).astype(float), np.atleast_2d(b).astype(float)
    bad = np.isnan(a).any(axis=1) | np.isnan(b).any(axis=1)
    a, b = np.where(np.isnan(a), 0.0, a), np.where(np.isnan(b), 0.0, b)
    ones = np.ones_like(a)
    spear = _row_pearson(ones, stats.rankdata(a, axis=1), stats.rankdata(b, axis=1))
    iu = np.triu_indices(a.shape[1], k=1)
    sa = np.sign(a[:, :, None] - a[:, None, :])[:, iu[0], iu[1]]
    sb = np.sign(b[:, :, None] - b[:, None, :])[:, iu[0], iu[1]]
    with np.errstate(invalid="ignore", divide="ignore"):
        den = np.sqrt(np.abs(sa).sum(axis=1) * np.abs(sb).sum(axis=1))
        tau = np.where(den > 0, (sa * sb).sum(axis=1) / np.where(den > 0, den, 1.0), np.nan)
    spear[bad] = np.nan
    tau[bad] = np.nan
    return spear, tau


__all__ = ["MAX_TABLE_CELLS", "PairedSample", "TableCorrelator", "row_rank_correlations", "table_correlations"]

"""Local intrinsic dimension per point: the Levina–Bickel maximum-likelihood estimator.

Around a point x, if the density is roughly constant over a ball and the sample lies on an
m-dimensional manifold, the number of neighbours within r grows like r^m (a Poisson process),
and the distances T_1 < T_2 < … to the neighbours give a likelihood for m. With c log-ratios
S(x) = Σ_j ln(T_c+1 / T_j) (k nearest neighbours: c = k − 1, ratios to T_k; fixed radius r:
c = neighbours inside r, ratios to r), S ~ Gamma(c, m), so

* per point: m̂(x) = (c − 1) / S(x), unbiased, with standard deviation m̂ / √(c − 2);
* pooled over the sample: m̂ = Σ c / Σ S (the MLE of a common m; averaging 1/m̂(x) rather than
  m̂(x), as MacKay and Ghahramani pointed out, avoids the upward bias of averaging noisy m̂(x)).

The scale of the estimate is T_k(x) (k-NN) or r (fixed radius); it is returned per point, to
compare with the scales Q of the correlation dimension. Points with a duplicate (a zero
distance) get NaN: their ratio is infinite.

References:
    Maximum Likelihood Estimation of Intrinsic Dimension (E. Levina, P. J. Bickel, 2004), NeurIPS 17.
    Comments on 'Maximum Likelihood Estimation of Intrinsic Dimension' by E. Levina and P. Bickel
    (D. J. C. MacKay, Z. Ghahramani, 2005), inference.org.uk/mackay/dimension.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Iterator

import numpy as np

from ._inputs import GeometryError, points_or_distances

__all__ = ["LocalDimension", "local_dimension"]


@dataclass(frozen=True)
class LocalDimension:
    """Per-point local dimension (N,) arrays and the pooled estimate."""

    dim: np.ndarray          # m̂(x); NaN where undefined (duplicates, < 3 neighbours inside the radius)
    dim_err: np.ndarray      # m̂(x) / √(c − 2): the Poisson-model standard deviation
    scale: np.ndarray        # T_k(x) for k-NN, the radius for fixed radius
    n_terms: np.ndarray      # c: log-ratios entering m̂(x)
    global_dim: float        # Σ c / Σ S over points with an estimate
    global_err: float        # bootstrap over points (neighbourhoods overlap: a lower bound)
    k: int | None
    radius: float | None

    def as_dict(self) -> dict[str, Any]:
        """Plain arrays and numbers, for an npz / json cache."""
        return asdict(self)


def local_dimension(x: np.ndarray | None = None, *, distances: np.ndarray | None = None, k: int | None = None,
                    radius: float | None = None, chunk: int = 512, seed: int = 0) -> LocalDimension:
    """Levina–Bickel local dimension of points `x` (N, D) or of a `distances` (N, N) matrix.

    Give `k` (nearest neighbours, default 20 when neither is given) or a fixed `radius`, not
    both. The k-NN search is exact brute force in row chunks of `chunk` points (memory
    chunk × N), which is what 128-d latents need (trees do not help there).
    """
    if k is not None and radius is not None:
        raise GeometryError("k / radius: give one scale, the number of neighbours k or a fixed radius")
    if radius is None:
        k = 20 if k is None else int(k)
        if k < 4:
            raise GeometryError(f"k: need k ≥ 4 (the per-point error needs k − 3 > 0), got {k}")
    elif not (np.isfinite(radius) and radius > 0):
        raise GeometryError(f"radius: need a finite positive number, got {radius!r}")
    x, distances = points_or_distances(x, distances, min_rows=(k + 1) if radius is None else 3)
    n = len(x) if x is not None else len(distances)
    s, c, scale = (np.empty(n), np.empty(n), np.empty(n))
    for rows, d in _distance_rows(x, distances, max(1, chunk)):
        s[rows], c[rows], scale[rows] = _knn_terms(d, k) if radius is None else _radius_terms(d, radius)
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = np.isfinite(s) & (s > 0) & (c >= 3)
        dim = np.where(ok, (c - 1) / s, np.nan)
        err = np.where(ok, dim / np.sqrt(c - 2), np.nan)
    g, g_err = _pooled(s[ok], c[ok], np.random.default_rng(seed))
    return LocalDimension(dim=dim, dim_err=err, scale=scale, n_terms=c.astype(np.int64), global_dim=g,
                          global_err=g_err, k=k if radius is None else None,
                          radius=float(radius) if radius is not None else None)


def _distance_rows(x: np.ndarray | None, distances: np.ndarray | None,
                   chunk: int) -> Iterator[tuple[slice, np.ndarray]]:
    """Rows of the distance matrix, `chunk` at a time, with each point's distance to itself = inf."""
    n = len(x) if x is not None else len(distances)
    sq = (x * x).sum(1) if x is not None else None
    for start in range(0, n, chunk):
        rows = slice(start, min(n, start + chunk))
        if x is not None:
            norms = sq[rows, None] + sq[None, :]
            d2 = norms - 2.0 * (x[rows] @ x.T)
            # the expansion cancels: a duplicate's d² is BLAS rounding (~eps·‖x‖², either sign), not 0,
            # so anything within that rounding counts as a duplicate (distance exactly 0)
            d2[d2 <= 16.0 * np.finfo(d2.dtype).eps * norms] = 0.0
            d = np.sqrt(d2)
        else:
            d = distances[rows].copy()
        d[np.arange(d.shape[0]), np.arange(rows.start, rows.stop)] = np.inf
        yield rows, d


def _knn_terms(d: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.sort(np.partition(d, k - 1, axis=1)[:, :k], axis=1)     # T_1 .. T_k
    with np.errstate(divide="ignore"):
        s = np.log(t[:, -1:] / t[:, :-1]).sum(1)
    s[t[:, 0] <= 0] = np.nan
    return s, np.full(len(d), k - 1.0), t[:, -1]


def _radius_terms(d: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    inside = d < radius
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(inside, np.log(radius / d), 0.0).sum(1)
    s[(inside & (d <= 0)).any(1)] = np.nan
    return s, inside.sum(1).astype(np.float64), np.full(len(d), float(radius))


def _pooled(s: np.ndarray, c: np.ndarray, rng: np.random.Generator, n_boot: int = 200) -> tuple[float, float]:
    if len(s) == 0:
        return float("nan"), float("nan")
    idx = rng.integers(0, len(s), (n_boot, len(s)))
    boot = c[idx].sum(1) / s[idx].sum(1)
    return float(c.sum() / s.sum()), float(np.std(boot, ddof=1))

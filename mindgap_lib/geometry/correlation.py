"""Correlation dimension against scale, dim(Q) = Q ∂/∂Q ln C(Q), with U-statistic and bootstrap errors.

C(Q) is the fraction of pairs of points closer than Q. For points on a d-dimensional manifold,
C(Q) ∝ Q^d at scales Q well below the size of the manifold and above the noise, so the local
log-log slope measures how many directions the sample really spreads in *at that scale*. It
works with any metric: Euclidean distances between latents, or a precomputed matrix such as the
energy mover's distances between jets (:mod:`mindgap_lib.geometry.emd`).

Choices (and why):

* Pairs: all pairs among at most ``max_points`` points (a random subset when there are more).
  Taking all pairs of a point subset, rather than random pairs, keeps the pair set closed under
  resampling points, which the bootstrap below needs; 3000 points give 4.5M pairs in ~1 s.
* Derivative: a symmetric finite difference of ln C over a fixed width in ln Q,
  dim(Q) = [ln C(Q e^h) − ln C(Q e^−h)] / 2h. It is exact for a power law, its bias is O(h²)
  (third ln-ln derivative), and its resolution does not depend on how finely the Q grid is
  sampled, unlike a difference between neighbouring grid points. Its statistical error is set
  by the pairs in the shell [Q e^−h, Q e^h); h = 0.15 (a ±16 % window) is a compromise.
  Where fewer than ``min_pairs`` pairs lie below Q e^−h the slope is reported as NaN.
* Errors, two kinds, both over *points* rather than pairs. The N(N−1)/2 pairs share points,
  so they are not independent (C is a U-statistic); treating pairs as independent (or
  resampling pairs) misses that and underestimates the variance.

  - ``dim_err``: the standard error from the U-statistic variance (Hoeffding 1948) of the
    slope's linearised kernel, Var = [4(N−2) ζ1 + 2 ζ2] / (N(N−1)), with ζ2 from the pairs and
    ζ1 from the per-point neighbour counts (corrected for their own pair noise). It matches the
    spread of dim(Q) over independent samples (tests/test_geometry.py) and is the band to show.
  - ``boot_err`` / ``boot_lo`` / ``boot_hi``: a bootstrap over points (multiplicities w_i weight
    the pair (i < j) by w_i w_j; self-pairs of a duplicated point are left out: they would add
    spurious zero distances). It is right where each point has many neighbours in the shell,
    but where few pairs per point lie in the shell (small Q) it counts the pair-level noise
    about three times in the variance (and small resampled counts make ln C non-linear), so
    it is conservative there: about 1.5–2.3 times the true error in the tests.
    Kept as a cross-check and for the percentile band of a non-Gaussian distribution.

References:
    Measuring the strangeness of strange attractors (P. Grassberger, I. Procaccia, 1983),
    doi:10.1016/0167-2789(83)90298-1.
    The Metric Space of Collider Events (P. T. Komiske, E. M. Metodiev, J. Thaler, 2019), arXiv:1902.02346.
    The learnt geometry of collider events (J. H. Collins, 2021), arXiv:2109.10919.
    A Class of Statistics with Asymptotically Normal Distribution (W. Hoeffding, 1948),
    doi:10.1214/aoms/1177730196.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np
from scipy.spatial.distance import pdist, squareform

from ._inputs import GeometryError, points_or_distances

__all__ = ["CorrelationDimension", "correlation_dimension", "pair_distances", "q_grid"]


@dataclass(frozen=True)
class CorrelationDimension:
    """dim(Q) on a grid of scales, with its bootstrap band. Arrays are (K,) over the grid `q`."""

    q: np.ndarray            # scales Q, in the units of the distance
    c: np.ndarray            # C(Q): fraction of pairs with distance < Q
    dim: np.ndarray          # dim(Q); NaN where fewer than min_pairs pairs lie below Q e^-h
    dim_err: np.ndarray      # standard error from the U-statistic variance (the band to show)
    boot_err: np.ndarray     # point-bootstrap standard deviation (conservative at small Q)
    boot_lo: np.ndarray      # point-bootstrap 16th percentile
    boot_hi: np.ndarray      # point-bootstrap 84th percentile
    pairs_below: np.ndarray  # pairs with distance < Q e^-h (what limits the statistics)
    n_points: int            # points used (after sub-sampling to max_points)
    n_pairs: int             # pairs used, n_points (n_points - 1) / 2
    n_boot: int
    half_width: float        # h: the slope is taken between Q e^-h and Q e^h

    def at(self, q: float) -> tuple[float, float]:
        """(dim, dim_err) at scale `q`, interpolated linearly in ln Q over the finite grid points."""
        ok = np.isfinite(self.dim)
        if not ok.any() or not self.q[ok][0] <= q <= self.q[ok][-1]:
            raise GeometryError(f"q: {q:g} is outside the scales with an estimate")
        lq = np.log(self.q[ok])
        return float(np.interp(np.log(q), lq, self.dim[ok])), float(np.interp(np.log(q), lq, self.dim_err[ok]))

    def as_dict(self) -> dict[str, Any]:
        """Plain arrays and numbers (for an npz / json cache); :meth:`from_dict` inverts it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "CorrelationDimension":
        arrays = {k: np.asarray(data[k], np.float64) for k in ("q", "c", "dim", "dim_err", "boot_err", "boot_lo",
                                                                 "boot_hi", "pairs_below")}
        return cls(**arrays, n_points=int(data["n_points"]), n_pairs=int(data["n_pairs"]),
                   n_boot=int(data["n_boot"]), half_width=float(data["half_width"]))


def pair_distances(x: np.ndarray | None = None, *, distances: np.ndarray | None = None,
                   max_points: int = 3000, seed: int = 0) -> np.ndarray:
    """Condensed pair distances (as scipy's ``pdist``) of points `x` or of a `distances` matrix.

    At most `max_points` points are used (a random subset, fixed by `seed`); the result has
    n (n − 1) / 2 entries in the order of ``pdist``.
    """
    return _pair_distances(*points_or_distances(x, distances), max_points, np.random.default_rng(seed))[0]


def q_grid(distances: np.ndarray, lo: float = 1e-3, hi: float = 0.5, num: int = 25) -> np.ndarray:
    """`num` log-spaced scales between the `lo` and `hi` quantiles of the positive pair distances.

    Below the 1e-3 quantile few pairs are left (noisy slope); above the median the slope
    mostly measures the size of the sample, not its dimension.
    """
    d = np.asarray(distances, np.float64)
    d = d[np.triu_indices(len(d), 1)] if d.ndim == 2 else d.ravel()
    d = d[d > 0]
    if not 0 < lo < hi < 1:
        raise GeometryError(f"lo / hi: need 0 < lo < hi < 1, got lo={lo}, hi={hi}")
    if num < 2:
        raise GeometryError(f"num: need at least 2 scales, got {num}")
    if len(d) < 2:
        raise GeometryError("distances: need at least two positive pair distances")
    q_lo, q_hi = np.quantile(d, [lo, hi])
    if not q_hi > q_lo:
        raise GeometryError(f"distances: the {lo} and {hi} quantiles coincide ({q_lo:g}); the sample is degenerate")
    return np.geomspace(q_lo, q_hi, num)


def correlation_dimension(x: np.ndarray | None = None, *, distances: np.ndarray | None = None,
                          q: np.ndarray | None = None, half_width: float = 0.15, n_boot: int = 100,
                          max_points: int = 3000, min_pairs: int = 20, seed: int = 0) -> CorrelationDimension:
    """dim(Q) of points `x` (N, D) (Euclidean) or of a precomputed metric `distances` (N, N).

    `q` defaults to :func:`q_grid` of the pair distances. See the module docstring for the
    finite difference (`half_width` = h), the two errors (`n_boot` point resamples; 0 skips the
    bootstrap) and why.
    """
    if not 0 < half_width < 2:
        raise GeometryError(f"half_width: need 0 < h < 2 (a window in ln Q), got {half_width}")
    if n_boot < 0 or min_pairs < 1 or max_points < 3:
        raise GeometryError(f"n_boot / min_pairs / max_points: got {n_boot}, {min_pairs}, {max_points}")
    rng = np.random.default_rng(seed)
    d, n = _pair_distances(*points_or_distances(x, distances, min_rows=3), max_points, rng)
    q = q_grid(d) if q is None else _checked_q(q)
    k = len(q)
    edges = np.concatenate([q * np.exp(-half_width), q * np.exp(half_width)])
    order = np.argsort(edges, kind="stable")
    near = np.flatnonzero(d < edges[order[-1]])       # pairs beyond the widest edge never count
    idx = np.searchsorted(edges[order], d[near], side="right")
    i, j = _pair_index(near, n)
    below = _counts_below(idx, None, order)
    dim = _slope(below[:k], below[k:], half_width, min_pairs)
    boot = np.full((n_boot, k), np.nan)
    for b in range(n_boot):
        w = np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)
        cb = _counts_below(idx, w[i] * w[j], order)
        boot[b] = np.where(np.isfinite(dim), _slope(cb[:k], cb[k:], half_width, 1), np.nan)
    err = np.where(np.isfinite(dim), _ustat_err(idx, i, j, n, order, below, half_width), np.nan)
    boot_err, lo, hi = _band(boot, k)
    c = np.searchsorted(np.sort(d[near]), q, side="left") / len(d)
    return CorrelationDimension(q=q, c=c, dim=dim, dim_err=err, boot_err=boot_err, boot_lo=lo, boot_hi=hi,
                                pairs_below=below[:k],
                                n_points=n, n_pairs=len(d), n_boot=n_boot, half_width=float(half_width))


def _pair_distances(x: np.ndarray | None, distances: np.ndarray | None, max_points: int,
                    rng: np.random.Generator) -> tuple[np.ndarray, int]:
    n = len(x) if x is not None else len(distances)
    keep = np.sort(rng.choice(n, max_points, replace=False)) if n > max_points else np.arange(n)
    if x is not None:
        return pdist(x[keep]), len(keep)
    return squareform(distances[np.ix_(keep, keep)], checks=False), len(keep)


def _checked_q(q: np.ndarray) -> np.ndarray:
    q = np.asarray(q, np.float64).ravel()
    if len(q) < 1 or not np.isfinite(q).all() or (q <= 0).any() or (np.diff(q) <= 0).any():
        raise GeometryError("q: need finite, positive, strictly increasing scales")
    return q


def _pair_index(k: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(i, j), i < j, of condensed indices `k` (pdist order) for n points."""
    k = k.astype(np.int64)
    i = n - 2 - np.floor(np.sqrt(-8.0 * k + 4.0 * n * (n - 1) - 7.0) / 2.0 - 0.5).astype(np.int64)
    j = k + i + 1 - n * (n - 1) // 2 + (n - i) * (n - i - 1) // 2
    return i, j


def _counts_below(idx: np.ndarray, weights: np.ndarray | None, order: np.ndarray) -> np.ndarray:
    """Weighted number of pairs below each edge, in the edges' original order."""
    cum = np.cumsum(np.bincount(idx, weights=weights, minlength=len(order))[:len(order)])
    out = np.empty(len(order))
    out[order] = cum
    return out


def _ustat_err(idx: np.ndarray, i: np.ndarray, j: np.ndarray, n: int, order: np.ndarray, below: np.ndarray,
               half_width: float) -> np.ndarray:
    """Standard error of dim(Q) from the U-statistic variance of its linearised pair kernel.

    dim = (ln C_hi − ln C_lo) / 2h is, to first order, the U-statistic of the kernel
    k_ij = (a_ij / C_hi − b_ij / C_lo) / 2h (a, b: the pair is below Q e^h, Q e^−h; b implies a),
    whose pair variance is ζ2 = (1/C_lo − 1/C_hi) / 4h², and whose per-point means m_i give
    ζ1 = [mean m_i² − ζ2 / (N − 1)] (N − 1) / (N − 2) (Hoeffding 1948, see the module docstring).
    """
    e, k = len(order), len(order) // 2
    per_point = np.bincount(np.concatenate([i, j]) * e + np.tile(idx, 2), minlength=n * e).reshape(n, e)
    counts = np.empty((n, e))
    counts[:, order] = np.cumsum(per_point, axis=1)       # neighbours of each point below each edge
    pairs = n * (n - 1) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        c_lo, c_hi = below[:k] / pairs, below[k:] / pairs
        zeta2 = (1.0 / c_lo - 1.0 / c_hi) / (4.0 * half_width**2)
        m = (counts[:, k:] / c_hi - counts[:, :k] / c_lo) / (2.0 * half_width * (n - 1))
        zeta1 = (np.mean(m * m, axis=0) - zeta2 / (n - 1)) * (n - 1) / (n - 2)
        var = (4.0 * (n - 2) * zeta1 + 2.0 * zeta2) / (n * (n - 1))
    return np.sqrt(np.maximum(var, 0.0))


def _slope(lo: np.ndarray, hi: np.ndarray, half_width: float, min_count: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        s = (np.log(hi) - np.log(lo)) / (2.0 * half_width)
    return np.where(lo >= min_count, s, np.nan)


def _band(boot: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    nan = np.full(k, np.nan)
    ok = np.isfinite(boot).sum(0) >= 2
    if not ok.any():
        return nan, nan.copy(), nan.copy()
    err, lo, hi = nan.copy(), nan.copy(), nan.copy()
    err[ok] = np.nanstd(boot[:, ok], axis=0, ddof=1)
    lo[ok], hi[ok] = np.nanpercentile(boot[:, ok], [16, 84], axis=0)
    return err, lo, hi

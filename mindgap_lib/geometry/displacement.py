"""Linking the transport to the geometry: is the calibration's displacement, or its residual
mismatch, concentrated where the latent is thin (low local dimension) or thick?

Given source latents z, their calibrated images T(z) and a local dimension per point (from
:func:`mindgap_lib.geometry.local_dim.local_dimension` on z), this returns the displacement
‖T(z) − z‖ per point and its mean in bins of local dimension; given any per-point residual
(e.g. the logit of a calibrated-vs-target discriminator at T(z), ≈ the log density ratio, 0
where the calibration closes), its mean per bin too, plus Spearman rank correlations, which
need no binning and are insensitive to the heavy tails of both quantities.

References:
    Mind the Gap: Navigating Inference with Optimal Transport Maps (M. Algren, F. A. Di Bello,
    T. Golling, C. Pollard, 2025), arXiv:2507.08867.
    Maximum Likelihood Estimation of Intrinsic Dimension (E. Levina, P. J. Bickel, 2004), NeurIPS 17.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from ._inputs import GeometryError, as_per_point, as_points

__all__ = ["DisplacementSummary", "displacement_by_local_dimension"]


@dataclass(frozen=True)
class DisplacementSummary:
    """Per-point (N,) arrays and per-bin (B,) means over bins of local dimension."""

    displacement: np.ndarray       # ‖T(z) − z‖ per point, in the units of z
    local_dim: np.ndarray          # as given (NaN: no estimate; left out of the bins)
    residual: np.ndarray | None    # as given, or None
    edges: np.ndarray              # (B + 1,) bin edges in local dimension
    n: np.ndarray                  # points per bin
    local_dim_mean: np.ndarray     # mean local dimension in the bin
    displacement_mean: np.ndarray
    displacement_err: np.ndarray   # standard error of the mean
    residual_mean: np.ndarray      # NaN when no residual was given
    residual_err: np.ndarray
    spearman_displacement: float   # rank correlation of local dimension with displacement
    spearman_residual: float       # ... with the residual (NaN when none)

    def as_dict(self) -> dict[str, Any]:
        """Plain arrays and numbers, for an npz / json cache (``residual`` may be None)."""
        return asdict(self)


def displacement_by_local_dimension(z: np.ndarray, tz: np.ndarray, local_dim: np.ndarray, *,
                                    residual: np.ndarray | None = None, n_bins: int = 5,
                                    edges: np.ndarray | None = None) -> DisplacementSummary:
    """Displacement ‖T(z) − z‖ (and `residual`) against the local dimension `local_dim` of z.

    Bins default to `n_bins` equal-population bins (quantiles of the finite local
    dimensions), so each mean has the same statistics; pass `edges` to fix them.
    """
    z, tz = as_points(z, "z", 1), as_points(tz, "tz", 1)
    if z.shape != tz.shape:
        raise GeometryError(f"tz: T(z) must have the shape of z {z.shape}, got {tz.shape}")
    n = len(z)
    ld = as_per_point(local_dim, n, "local_dim")
    res = None if residual is None else as_per_point(residual, n, "residual")
    disp = np.linalg.norm(tz - z, axis=1)
    ok = np.isfinite(ld) & (np.isfinite(res) if res is not None else True)
    edges = _edges(ld[ok], n_bins, edges)
    which = np.clip(np.searchsorted(edges, ld, side="right") - 1, 0, len(edges) - 2)
    inside = ok & (ld >= edges[0]) & (ld <= edges[-1])
    ld_mean, _, counts = _binned(ld, which, inside, len(edges) - 1)
    d_mean, d_err, _ = _binned(disp, which, inside, len(edges) - 1)
    nan = np.full(len(edges) - 1, np.nan)
    r_mean, r_err, _ = _binned(res, which, inside, len(edges) - 1) if res is not None else (nan, nan.copy(), None)
    return DisplacementSummary(
        displacement=disp, local_dim=ld, residual=res, edges=edges, n=counts, local_dim_mean=ld_mean,
        displacement_mean=d_mean, displacement_err=d_err, residual_mean=r_mean, residual_err=r_err,
        spearman_displacement=_spearman(ld[ok], disp[ok]),
        spearman_residual=_spearman(ld[ok], res[ok]) if res is not None else float("nan"))


def _edges(values: np.ndarray, n_bins: int, edges: np.ndarray | None) -> np.ndarray:
    if edges is not None:
        e = np.asarray(edges, np.float64).ravel()
        if len(e) < 2 or not np.isfinite(e).all() or (np.diff(e) <= 0).any():
            raise GeometryError("edges: need at least two finite, strictly increasing bin edges")
        return e
    if n_bins < 1:
        raise GeometryError(f"n_bins: need at least one bin, got {n_bins}")
    if len(values) < n_bins:
        raise GeometryError(f"local_dim: {len(values)} finite value(s), fewer than n_bins = {n_bins}")
    e = np.quantile(values, np.linspace(0.0, 1.0, n_bins + 1))
    if (np.diff(e) <= 0).any():
        raise GeometryError("local_dim: too many equal values for equal-population bins; pass edges")
    return e


def _binned(values: np.ndarray, which: np.ndarray, inside: np.ndarray,
            n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-bin mean, standard error of the mean (NaN below 2 points) and count."""
    w, v = which[inside], values[inside]
    count = np.bincount(w, minlength=n_bins)
    total, total2 = np.bincount(w, v, n_bins), np.bincount(w, v * v, n_bins)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / count
        var = np.maximum(total2 - count * mean**2, 0.0) / (count - 1)
        sem = np.where(count >= 2, np.sqrt(var / count), np.nan)
    return np.where(count > 0, mean, np.nan), sem, count


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)

"""How good is a map: L2-UVP against a known map, exact W2 on subsamples, Sinkhorn divergence."""

from __future__ import annotations

import numpy as np
import ot

from .init import sqrtm_psd

__all__ = ["l2_uvp", "w2_exact", "sinkhorn_divergence", "w2_gaussian", "linear_fit_map"]


def l2_uvp(mapped: np.ndarray, reference: np.ndarray, target: np.ndarray) -> float:
    """Unexplained variance percentage: 100 · E‖T̂(x) − T*(x)‖² / tr Cov(Q).

    Arguments:
        mapped: T̂(x) with shape (n, d); reference: T*(x) for the same x; target: a sample of Q.

    References:
        Do Neural Optimal Transport Solvers Work? (Korotin et al., 2021), arXiv:2106.01954.
    """
    mapped, reference = np.asarray(mapped, np.float64), np.asarray(reference, np.float64)
    if mapped.shape != reference.shape:
        raise ValueError(f"l2_uvp: mapped {mapped.shape} and reference {reference.shape} differ in shape")
    var = float(np.trace(np.atleast_2d(np.cov(np.asarray(target, np.float64), rowvar=False))))
    return 100.0 * float(((mapped - reference) ** 2).sum(1).mean()) / var


def _subsample(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x if len(x) <= n else x[rng.choice(len(x), n, replace=False)]


def w2_exact(a: np.ndarray, b: np.ndarray, n: int = 2000, seed: int = 0) -> float:
    """W2 between two samples by exact OT (POT ``emd2``) on ≤ n points from each (biased upwards)."""
    rng = np.random.default_rng(seed)
    a, b = _subsample(a, n, rng), _subsample(b, n, rng)
    cost = ot.dist(a, b)                                         # squared Euclidean
    w = ot.emd2(ot.unif(len(a)), ot.unif(len(b)), cost, numItermax=10_000_000)
    return float(np.sqrt(max(w, 0.0)))


def sinkhorn_divergence(a: np.ndarray, b: np.ndarray, reg: float = 0.05, n: int = 1000, seed: int = 0) -> float:
    """Debiased Sinkhorn divergence S_ε(a, b) = OT_ε(a,b) − ½OT_ε(a,a) − ½OT_ε(b,b) on ≤ n points.

    ε = reg × the mean squared distance between the samples, so the number is scale-aware.
    """
    rng = np.random.default_rng(seed)
    a, b = _subsample(a, n, rng), _subsample(b, n, rng)
    eps = reg * float(ot.dist(a, b).mean())

    def ot_eps(p: np.ndarray, q: np.ndarray) -> float:
        return float(ot.sinkhorn2(ot.unif(len(p)), ot.unif(len(q)), ot.dist(p, q), eps, method="sinkhorn_log",
                                  numItermax=1000, stopThr=1e-6))
    return ot_eps(a, b) - 0.5 * ot_eps(a, a) - 0.5 * ot_eps(b, b)


def w2_gaussian(mean_s: np.ndarray, cov_s: np.ndarray, mean_t: np.ndarray, cov_t: np.ndarray) -> float:
    """Closed-form W2 between two Gaussians (the Bures–Wasserstein distance)."""
    s_half = sqrtm_psd(cov_s)
    cross = sqrtm_psd(s_half @ cov_t @ s_half)
    w2sq = float(((mean_s - mean_t) ** 2).sum() + np.trace(cov_s) + np.trace(cov_t) - 2 * np.trace(cross))
    return float(np.sqrt(max(w2sq, 0.0)))


def linear_fit_map(x: np.ndarray, tx: np.ndarray):
    """Least-squares affine fit of a known map (an oracle lower bound for any linear solver)."""
    x1 = np.hstack([x, np.ones((len(x), 1))])
    coef, *_ = np.linalg.lstsq(x1, tx, rcond=None)
    return lambda z: np.hstack([z, np.ones((len(z), 1))]) @ coef

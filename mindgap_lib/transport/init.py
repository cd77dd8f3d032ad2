"""The Gaussian (Bures–Wasserstein) map between two samples' moments: the solver's starting point.

Between N(m_s, Σs) and N(m_t, Σt) the Brenier map is affine, T(x) = m_t + A (x − m_s) with
A = Σs^{-1/2} (Σs^{1/2} Σt Σs^{1/2})^{1/2} Σs^{-1/2}, symmetric positive definite. Starting both
potentials' quadratic terms there leaves the networks only the non-linear residual to learn.
"""

from __future__ import annotations

import numpy as np

__all__ = ["sqrtm_psd", "bures_map", "gaussian_map_from_samples", "moments"]


def sqrtm_psd(S: np.ndarray, inverse: bool = False, floor: float = 1e-12) -> np.ndarray:
    """Symmetric square root (or inverse square root) of a PSD matrix via eigh."""
    w, V = np.linalg.eigh((S + S.T) / 2)
    w = np.clip(w, floor, None)
    p = -0.5 if inverse else 0.5
    return (V * w**p) @ V.T


def bures_map(mean_s: np.ndarray, cov_s: np.ndarray, mean_t: np.ndarray, cov_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(A, b) with T(x) = A x + b the Brenier map N(mean_s, cov_s) → N(mean_t, cov_t)."""
    s_half = sqrtm_psd(cov_s)
    s_ihalf = sqrtm_psd(cov_s, inverse=True)
    A = s_ihalf @ sqrtm_psd(s_half @ cov_t @ s_half) @ s_ihalf
    A = (A + A.T) / 2
    return A, mean_t - A @ mean_s


def moments(x: np.ndarray, shrink: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance in float64, with a tiny ridge so a degenerate sample stays invertible."""
    x = np.asarray(x, dtype=np.float64)
    cov = np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])
    ridge = shrink * max(np.trace(cov) / x.shape[1], 1e-12)
    return x.mean(0), cov + ridge * np.eye(x.shape[1])


def gaussian_map_from_samples(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(A, b) of the Bures map between the samples' first two moments."""
    ms, cs = moments(source)
    mt, ct = moments(target)
    return bures_map(ms, cs, mt, ct)

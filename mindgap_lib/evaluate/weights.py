"""Vertical calibration: density-ratio weights from a discriminator, and the dilution they cost.

A discriminator trained with balanced classes to tell source (0) from target (1) returns
``s(x) = p_t / (p_s + p_t)``, so ``w = s / (1 - s) = p_t / p_s`` reweights the source to the
target. Where the two barely overlap, a few events carry all the weight: the effective sample
size ``(sum w)^2 / sum w^2`` (eq. 5 of the paper, as a fraction of N) collapses.
"""

from __future__ import annotations

import numpy as np

from .config import EvaluateError

__all__ = ["density_ratio_weights", "ess", "ess_fraction"]


def density_ratio_weights(scores: np.ndarray, eps: float = 1e-6, normalise: bool = True) -> np.ndarray:
    """``w = s / (1 - s)`` with ``s`` clipped to ``[eps, 1 - eps]``; mean 1 when `normalise`.

    The clip bounds a single weight at ``(1 - eps) / eps``: a score of exactly 1 (no source
    support) would otherwise give an infinite weight.
    """
    s = np.clip(np.asarray(scores, dtype=np.float64), eps, 1.0 - eps)
    if s.ndim != 1 or len(s) == 0:
        raise EvaluateError(f"weights: scores must be a non-empty 1-D array, got shape {s.shape}")
    w = s / (1.0 - s)
    return w / w.mean() if normalise else w


def ess(weights: np.ndarray) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2``."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or len(w) == 0:
        raise EvaluateError(f"weights: need a non-empty 1-D array, got shape {w.shape}")
    if (w < 0).any() or not np.isfinite(w).all():
        raise EvaluateError("weights: must be finite and non-negative")
    sq = float(np.sum(w * w))
    return float(np.sum(w)) ** 2 / sq if sq > 0 else 0.0


def ess_fraction(weights: np.ndarray) -> float:
    """``ess / N``: 1 for uniform weights, 1/N when one weight dominates."""
    return ess(weights) / len(weights)

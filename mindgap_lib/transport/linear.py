"""The linear (Bures) map alone: the Gaussian optimal map between the two samples' moments.

It is the ICNN solver's starting point (:mod:`.init`); kept as a calibration of its own, it shows
how much of the closure the non-linear part of the map adds, and it refits in milliseconds (the
live control of chapter 06, the bootstrap of the statistical uncertainty at scale).
"""

from __future__ import annotations

import numpy as np

from .init import gaussian_map_from_samples

__all__ = ["LinearMap", "fit_linear"]


class LinearMap:
    """T(x) = shift + B (A Bᵀ(x − shift) + b), plus x's part outside span(B) unchanged (B = I without a basis)."""

    def __init__(self, A: np.ndarray, b: np.ndarray, shift: np.ndarray, basis: np.ndarray | None = None) -> None:
        self.A, self.b = np.asarray(A, np.float64), np.asarray(b, np.float64)
        self.shift, self.basis = np.asarray(shift, np.float64), None if basis is None else np.asarray(basis, np.float64)

    @property
    def dim(self) -> int:
        return len(self.shift)

    def transport(self, x: np.ndarray) -> np.ndarray:
        """Source → target, (n, d) in and out (float32)."""
        x = np.asarray(x, np.float64)
        centred = x - self.shift
        if self.basis is None:
            return (self.shift + centred @ self.A.T + self.b).astype(np.float32)
        u = centred @ self.basis
        return (x + (u @ self.A.T + self.b - u) @ self.basis.T).astype(np.float32)


def fit_linear(source: np.ndarray, target: np.ndarray, subspace_tol: float = 0.0) -> LinearMap:
    """The Bures map between the moments of `source` and `target` (n, d), on their pooled principal span
    (components with variance > `subspace_tol` × the largest; all of them at 0)."""
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    shift = target.mean(0)
    basis = None
    if subspace_tol > 0:
        pooled = np.concatenate([source, target]) - shift
        var, vec = np.linalg.eigh(pooled.T @ pooled / len(pooled))
        keep = var > subspace_tol * var.max()
        basis = None if keep.all() else vec[:, keep]
    if basis is None:
        A, b = gaussian_map_from_samples(source - shift, target - shift)
    else:
        A, b = gaussian_map_from_samples((source - shift) @ basis, (target - shift) @ basis)
    return LinearMap(A, b, shift, basis)

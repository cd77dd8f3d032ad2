"""Pairs of distributions whose Brenier map is known exactly: the solver's accuracy benchmark.

* ``gaussian``: N(m_s, Σs) → N(m_t, Σt) with anisotropic, rotated covariances and a mean shift;
  the map is the affine Bures map.
* ``ridge``: a Korotin-style pair. The source is a Gaussian mixture; the target is its push-forward
  by ∇ψ with ψ(x) = ½ xᵀMx + Σ_k c_k softplus(β(w_kᵀx + b_k))/β, convex and far from quadratic. By
  Brenier's theorem T* = ∇ψ, which no affine map (hence not the Gaussian initialisation) reproduces.

References:
    Do Neural Optimal Transport Solvers Work? (Korotin et al., 2021), arXiv:2106.01954.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .init import bures_map

__all__ = ["KnownPair", "gaussian_pair", "ridge_pair", "make_pair", "PAIRS"]


@dataclass
class KnownPair:
    """A source sampler and the exact optimal map; the target is T* of the source."""

    name: str
    dim: int
    sample_source: Callable[[int, np.random.Generator], np.ndarray]
    true_map: Callable[[np.ndarray], np.ndarray]
    info: dict = field(default_factory=dict)

    def samples(self, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Independent (source, target) samples of size n, float32 (the target from other source draws)."""
        rng = np.random.default_rng(seed)
        x = self.sample_source(n, rng)
        y = self.true_map(self.sample_source(n, rng))
        return x.astype(np.float32), y.astype(np.float32)


def _rotation(d: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def _random_cov(d: int, rng: np.random.Generator, lo: float, hi: float) -> np.ndarray:
    """Rotated covariance with eigenvalues log-uniform in [lo, hi]."""
    q = _rotation(d, rng)
    eig = np.exp(rng.uniform(np.log(lo), np.log(hi), d))
    return (q * eig) @ q.T


def gaussian_pair(dim: int, seed: int = 0) -> KnownPair:
    """Anisotropic Gaussians (variances in [0.25, 4]) with a mean shift; T* is the Bures map."""
    rng = np.random.default_rng(seed)
    cov_s, cov_t = _random_cov(dim, rng, 0.25, 4.0), _random_cov(dim, rng, 0.25, 4.0)
    mean_s, mean_t = rng.normal(0, 0.5, dim), rng.normal(0, 0.5, dim)
    A, b = bures_map(mean_s, cov_s, mean_t, cov_t)
    chol = np.linalg.cholesky(cov_s)

    def sample(n: int, r: np.random.Generator) -> np.ndarray:
        return mean_s + r.normal(size=(n, dim)) @ chol.T

    return KnownPair("gaussian", dim, sample, lambda x: x @ A.T + b, {"A": A, "b": b})


def ridge_pair(dim: int, seed: int = 0, components: int = 4, ridges: int = 16, strength: float = 3.0,
               sharpness: float = 4.0, quad_scale: float = 0.3) -> KnownPair:
    """Gaussian-mixture source pushed through ∇ψ, ψ = ½xᵀMx + Σ_k c_k softplus(β(w_kᵀx + b_k))/β.

    ``ridges`` random unit directions w_k, ``sharpness`` β, ``strength`` the ridges' push and
    ``quad_scale`` the size of M: the defaults leave 10–25 % L2-UVP to the best affine map at d = 2…128.
    """
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 1.5, (components, dim)) / np.sqrt(max(1.0, dim / 8))
    chols = [np.linalg.cholesky(_random_cov(dim, rng, 0.2, 1.0)) for _ in range(components)]
    M = _random_cov(dim, rng, 0.5, 2.0) * quad_scale
    w = rng.normal(size=(ridges, dim))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    b = rng.normal(0, 0.5, ridges)
    c = strength * rng.uniform(0.5, 1.5, ridges) * np.sqrt(dim / ridges)

    def sample(n: int, r: np.random.Generator) -> np.ndarray:
        k = r.integers(components, size=n)
        z = r.normal(size=(n, dim))
        out = means[k].copy()
        for j in range(components):
            sel = k == j
            out[sel] += z[sel] @ chols[j].T
        return out

    def grad_psi(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        act = 0.5 * (1.0 + np.tanh(0.5 * sharpness * (x @ w.T + b)))  # (n, K): d/dz softplus(βz)/β
        return x @ M + (act * c) @ w

    return KnownPair("ridge", dim, sample, grad_psi, {"M": M, "w": w, "b": b, "c": c})


PAIRS = {"gaussian": gaussian_pair, "ridge": ridge_pair}


def make_pair(name: str, dim: int, seed: int = 0) -> KnownPair:
    """A known-map pair by name (``gaussian`` or ``ridge``)."""
    if name not in PAIRS:
        raise ValueError(f"unknown known-map pair {name!r} (known: {', '.join(PAIRS)})")
    return PAIRS[name](dim, seed)

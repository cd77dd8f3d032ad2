"""The solver's inputs: checked samples, the principal subspace, the standardised coordinates, the held-out split.

Shared by `fit` (two samples) and `fit_oracle` (paired rows), so both see the data the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .config import TransportError

__all__ = ["check_samples", "principal_basis", "standard_scale", "solver_frame", "holdout_split"]


def check_samples(source: Any, target: Any, min_rows: int, names: tuple[str, str] = ("source", "target"),
                  why: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Both samples as float32 (n, d) arrays with at least `min_rows` rows; errors name the sample,
    the offending rows and (`why`) the settings that set the minimum."""
    out = []
    for name, arr in zip(names, (source, target)):
        arr = np.asarray(arr)
        if arr.ndim != 2:
            raise TransportError(f"{name}: expected a 2-d array (n, d), got shape {arr.shape}")
        if not np.issubdtype(arr.dtype, np.number):
            raise TransportError(f"{name}: expected numbers, got dtype {arr.dtype}")
        bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
        if bad.size:
            raise TransportError(f"{name}: {bad.size} row(s) with NaN or inf, first at row(s) {bad[:5].tolist()}")
        out.append(arr.astype(np.float32, copy=False))
    if out[0].shape[1] != out[1].shape[1]:
        raise TransportError(f"dimension mismatch: {names[0]} has d={out[0].shape[1]}, {names[1]} has d={out[1].shape[1]}")
    for name, arr in zip(names, out):
        if len(arr) < min_rows:
            raise TransportError(f"{name}: {len(arr)} samples, fewer than the {min_rows} needed{why} "
                                 "(lower batch_size or provide more samples)")
    return out[0], out[1]


def principal_basis(source: np.ndarray, target: np.ndarray, shift: np.ndarray, tol: float) -> np.ndarray | None:
    """Orthonormal basis (d, k) of the pooled principal components with variance > tol · the largest.

    A tagger's latents can fill only part of their space (z128 = W·LayerNorm(h) + b is one affine
    subspace for source and target alike, and the spectrum falls steeply beyond it). A map fitted in
    all d dimensions leaks into the empty directions, which a discriminator then learns to spot;
    fitted in the span, it leaves them as they are. None when every direction is kept.
    """
    if tol <= 0:
        return None
    pooled = np.concatenate([source, target]).astype(np.float64) - shift
    var, vec = np.linalg.eigh(pooled.T @ pooled / len(pooled))
    keep = var > tol * var.max()
    return None if keep.all() else np.ascontiguousarray(vec[:, keep][:, ::-1], dtype=np.float32)


def standard_scale(target: np.ndarray, mode: str, basis: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(shift, scale) from one sample (`target`: the side f lives on): solver coordinates are (x − shift) / scale.

    With a `basis`, the isotropic scale is that of the projected coordinates (per kept direction).
    """
    d = target.shape[1]
    shift = target.mean(0)
    std = target.std(0) if basis is None else ((target - shift) @ basis).std(0)
    if mode == "none":
        return np.zeros(d, np.float32), np.ones(len(std), np.float32)
    if mode == "isotropic":
        scale = np.full(len(std), np.sqrt(np.mean(std**2)))
    else:
        scale = std
    return shift.astype(np.float32), np.where(scale > 0, scale, 1.0).astype(np.float32)


def solver_frame(source: np.ndarray, target: np.ndarray, primary: np.ndarray, standardize: str,
                 subspace_tol: float) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """(basis, shift, scale) of the solver's coordinates: the pooled principal subspace centred on `primary`
    (the sample f lives on) and `primary`'s scale within it. One function so that `fit` and `fit_oracle`
    cannot drift apart."""
    basis = principal_basis(source, target, primary.mean(0), subspace_tol)
    return (basis, *standard_scale(primary, standardize, basis))


def holdout_split(x: np.ndarray, frac: float, cap: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(train, held-out) rows: a random `frac` of them, at most `cap`, at least one, held out."""
    perm = rng.permutation(len(x))
    n_val = min(cap, max(1, int(round(frac * len(x)))))
    return x[perm[n_val:]], x[perm[:n_val]]

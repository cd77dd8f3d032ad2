"""Checking the inputs of the geometry functions: point clouds, distance matrices, per-point arrays."""

from __future__ import annotations

import numpy as np

from ..errors import MindgapError

__all__ = ["GeometryError", "as_points", "as_distance_matrix", "as_per_point", "points_or_distances"]


class GeometryError(MindgapError, ValueError):
    """A geometry input that cannot be used; the message names the argument and what is wrong."""


def as_points(x: np.ndarray, name: str = "x", min_rows: int = 2) -> np.ndarray:
    """`x` as a finite float64 (N, D) array with at least `min_rows` rows."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise GeometryError(f"{name}: need a 2-D array (points, features), got shape {arr.shape}")
    if arr.shape[0] < min_rows:
        raise GeometryError(f"{name}: need at least {min_rows} points, got {arr.shape[0]}")
    if not np.isfinite(arr).all():
        raise GeometryError(f"{name}: holds {int((~np.isfinite(arr)).sum())} non-finite value(s)")
    return arr


def as_distance_matrix(d: np.ndarray, name: str = "distances", min_rows: int = 2) -> np.ndarray:
    """`d` as a float64 (M, M) matrix of a metric: finite, non-negative, symmetric, zero diagonal."""
    arr = np.asarray(d, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise GeometryError(f"{name}: need a square (M, M) distance matrix, got shape {arr.shape}")
    if arr.shape[0] < min_rows:
        raise GeometryError(f"{name}: need at least {min_rows} points, got {arr.shape[0]}")
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise GeometryError(f"{name}: distances must be finite and non-negative")
    scale = max(float(arr.max()), 1e-300)
    if np.abs(np.diagonal(arr)).max() > 1e-9 * scale:
        raise GeometryError(f"{name}: the diagonal (distance of a point to itself) must be zero")
    if np.abs(arr - arr.T).max() > 1e-6 * scale:
        raise GeometryError(f"{name}: the matrix is not symmetric (max |d - d.T| = {np.abs(arr - arr.T).max():.3g})")
    return arr


def as_per_point(values: np.ndarray, n: int, name: str) -> np.ndarray:
    """`values` as a float64 (n,) array (NaN allowed: a point without an estimate)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (n,):
        raise GeometryError(f"{name}: need one value per point, shape ({n},), got {arr.shape}")
    if np.isinf(arr).any():
        raise GeometryError(f"{name}: holds infinite value(s)")
    return arr


def points_or_distances(x: np.ndarray | None, distances: np.ndarray | None,
                        min_rows: int = 2) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Exactly one of points `x` (N, D) or a precomputed `distances` (N, N), checked."""
    if (x is None) == (distances is None):
        raise GeometryError("x / distances: give exactly one of points `x` or a precomputed `distances` matrix")
    if x is not None:
        return as_points(x, "x", min_rows), None
    return None, as_distance_matrix(distances, "distances", min_rows)

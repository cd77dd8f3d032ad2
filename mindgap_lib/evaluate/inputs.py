"""Reading the latents an evaluation needs, checking them, and writing results atomically."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

from ..util.atomic import atomic_write_json, atomic_write_npz
from .config import EvaluateError

__all__ = ["EvaluateError", "PER_JET", "load_latents", "check_same_dims", "write_json", "write_npz"]

PER_JET = ("jet_pt", "jet_eta")  # 1-d per-jet scalars a latents file may hold beside the layers


def load_latents(path: str | os.PathLike, keys: Iterable[str]) -> dict[str, np.ndarray]:
    """The arrays `keys` of a latents npz, as float32 (N, d) arrays with equal N (1-d for :data:`PER_JET`).

    A missing file, a missing key, a layer that is not 2-D, rows that differ between keys or
    non-finite values are an :class:`EvaluateError` naming the file and key.
    """
    path = Path(path)
    keys = list(keys)
    if not path.is_file():
        raise EvaluateError(f"{path}: no latents file (make it with `mindgap latents`)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                raise EvaluateError(f"{path}: missing key(s) {', '.join(missing)} (has: {', '.join(npz.files)})")
            out = {k: np.asarray(npz[k], dtype=np.float32) for k in keys}
    except EvaluateError:
        raise
    except Exception as err:  # zip/pickle errors from a truncated or foreign file
        raise EvaluateError(f"{path}: not a readable npz ({type(err).__name__}: {err})") from None
    rows = None
    for k, arr in out.items():
        if arr.ndim != (1 if k in PER_JET else 2):
            raise EvaluateError(f"{path}: key {k!r} should be {'1' if k in PER_JET else '2'}-D, has shape {arr.shape}")
        if rows is not None and arr.shape[0] != rows[1]:
            raise EvaluateError(f"{path}: key {k!r} has {arr.shape[0]} rows, {rows[0]!r} has {rows[1]}")
        rows = rows or (k, arr.shape[0])
        if not np.isfinite(arr).all():
            raise EvaluateError(f"{path}: key {k!r} holds non-finite values")
    return out


def check_same_dims(named: Mapping[str, Mapping[str, np.ndarray]], keys: Iterable[str]) -> None:
    """All samples in `named` (name -> arrays) have the same feature width for each key."""
    for k in keys:
        dims = {name: arrs[k].shape[1] for name, arrs in named.items() if k in arrs}
        if len(set(dims.values())) > 1:
            detail = ", ".join(f"{name} {d}" for name, d in dims.items())
            raise EvaluateError(f"latent {k!r} has mismatched widths: {detail}")


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write `obj` as JSON atomically (numpy values converted, non-finite -> null, keys in order)."""
    return atomic_write_json(path, obj, sort_keys=False)


def write_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write arrays to an npz atomically."""
    return atomic_write_npz(path, **arrays)

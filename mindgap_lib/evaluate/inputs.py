"""Reading the latents an evaluation needs, checking them, and writing results atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np

__all__ = ["EvaluateError", "LAYERS", "load_latents", "check_same_dims", "write_json", "write_npz"]

# the three layers the paper evaluates: where the calibration acts, the last hidden layer, the output
LAYERS: tuple[str, ...] = ("z128", "penultimate", "logits")


class EvaluateError(ValueError):
    """An evaluation input that cannot be used: missing file or key, mismatched dimensions, bad value."""


def load_latents(path: str | os.PathLike, keys: Iterable[str] = LAYERS) -> dict[str, np.ndarray]:
    """The arrays `keys` of a latents npz, as float32 2-D arrays (N, d) with equal N.

    A missing file, a missing key, a non 2-D array or rows that differ between keys is an
    :class:`EvaluateError` naming the file and key.
    """
    path = Path(path)
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
        if arr.ndim == 1 and k not in LAYERS + ("z128_post",):
            continue  # per-jet scalars such as jet_pt
        if arr.ndim != 2:
            raise EvaluateError(f"{path}: key {k!r} should be 2-D (jets, features), has shape {arr.shape}")
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


def _atomic(path: Path, write) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None  # JSON has no inf/nan
    return obj


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write `obj` as JSON via a temporary file (numpy values converted, non-finite -> null)."""
    text = json.dumps(_jsonable(obj), indent=1, sort_keys=False)
    return _atomic(Path(path), lambda tmp: tmp.write_text(text))


def write_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write arrays to an npz via a temporary file."""
    def write(tmp: Path) -> None:
        with tmp.open("wb") as fh:
            np.savez(fh, **arrays)
    return _atomic(Path(path), write)

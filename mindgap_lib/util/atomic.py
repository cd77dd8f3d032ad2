"""Atomic writes: a unique temporary name beside the target, then one rename.

A reader never sees half a file, a killed writer leaves only its own temporary (named with its pid
and a random suffix, so two writers never collide), and the previous version survives until the
new one is complete.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from pathlib import Path
from typing import Any

__all__ = ["temp_name", "atomic_write_bytes", "atomic_write_text", "atomic_write_json", "atomic_write_npz", "jsonable", "atomic_torch_save"]


def temp_name(path: str | os.PathLike) -> Path:
    """``<dir>/.<name>.<pid>.<random>.tmp``: unique per writer, hidden, and ignored by ``*.root`` globs."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    tmp = temp_name(path)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode())


def jsonable(obj: Any) -> Any:
    """Plain JSON data: numpy arrays and scalars converted, non-finite floats as null (JSON has no inf/nan)."""
    if isinstance(obj, dict) or hasattr(obj, "items"):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):  # numpy arrays and scalars
        return jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def atomic_write_json(path: str | os.PathLike, obj: Any, **kw: Any) -> Path:
    """JSON (one-space indent, sorted keys unless told otherwise), numpy converted, non-JSON values as ``str``."""
    kw = {"indent": 1, "sort_keys": True, "default": str, **kw}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, json.dumps(jsonable(obj), **kw))


def atomic_write_npz(path: str | os.PathLike, **arrays: Any) -> Path:
    """``np.savez`` of `arrays` to `path`, atomically."""
    import numpy as np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` of `obj` to `path`, atomically (a killed save never leaves half a checkpoint)."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(path)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path

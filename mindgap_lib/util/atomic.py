"""Atomic writes: a unique temporary name beside the target, then one rename.

A reader never sees half a file, a killed writer leaves only its own temporary (named with its pid
and a random suffix, so two writers never collide; :func:`sweep_stale_temporaries` removes it once
that pid is gone), and the previous version survives until the new one is complete.
"""

from __future__ import annotations

import json
import math
import os
import re
import uuid
from pathlib import Path
from typing import Any, Callable

__all__ = ["writable_folder", "temp_name", "sweep_stale_temporaries", "atomic_write_bytes", "atomic_write_text", "atomic_write_json", "atomic_write_npz", "jsonable", "atomic_torch_save"]


def writable_folder(path: str | os.PathLike, error: Callable[[str], Exception]) -> Path:
    """`path` as a folder that exists (created if needed) and can be written, checked before any work
    starts; a failure raises ``error(reason)``, reason "cannot create (…)" or "not writable"."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise error(f"cannot create ({err.strerror or err})") from None
    if not os.access(path, os.W_OK):
        raise error("not writable")
    return path


def temp_name(path: str | os.PathLike) -> Path:
    """``<dir>/.<name>.<pid>.<random>.tmp``: unique per writer, hidden, and ignored by ``*.root`` globs."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


# what temp_name makes (the runner's notebooks end in .ipynb instead of .tmp); group 1: the writer's pid
TEMP_NAME = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.(?:tmp|ipynb)$")


def _alive(pid: int) -> bool:
    """Whether a process `pid` exists on this machine (another user's counts as alive)."""
    if pid <= 0:
        return True  # not a writer's pid: keep its file
    try:
        os.kill(pid, 0)  # signal 0: only checks that the process exists
    except (ProcessLookupError, OverflowError):  # no such process (or a number no pid can be)
        return False
    except OSError:  # EPERM: it exists, and is another user's
        return True
    return True


def sweep_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporaries (:func:`temp_name`) under `folder` whose writer is no longer alive; returns them.

    A writer killed outright (SIGKILL, power loss) cannot remove its own temporary. The pid check
    keeps the file of any process still alive on this machine, so a running writer never loses its
    temporary (a dead writer whose pid was reused keeps its file too, which is harmless).
    """
    removed = []
    for path in sorted(p for p in Path(folder).rglob(".*") if p.suffix in (".tmp", ".ipynb")):
        m = TEMP_NAME.match(path.name)
        if m and path.is_file() and not _alive(int(m.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


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

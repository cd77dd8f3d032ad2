"""Atomic writes: a unique temporary name beside the target, then one rename.

A reader never sees half a file, a killed writer leaves only its own temporary (named with its pid
and a random suffix, so two writers never collide), and the previous version survives until the
new one is complete.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

__all__ = ["temp_name", "atomic_write_bytes", "atomic_write_text", "atomic_write_json"]


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


def atomic_write_json(path: str | os.PathLike, obj: Any, **kw: Any) -> Path:
    """JSON with sorted keys and one-space indent (diffable), non-JSON values as ``str``."""
    kw = {"indent": 1, "sort_keys": True, "default": str, **kw}
    return atomic_write_text(path, json.dumps(obj, **kw))

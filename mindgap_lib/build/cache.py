"""Artifact cache: a heavy stage's outputs live in a folder named by the hash of what made them.

A folder is *complete* once its completion mark (written last, atomically) exists; anything else
is *partial*: left by a run that was killed or failed, and never trusted. Work on a folder happens
under its lock (:func:`stage_lock`), so two runs on one build directory never interleave: the
second waits, then finds the folder complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator, Mapping

from ..util.atomic import atomic_write_json
from ..util.locks import file_lock

__all__ = ["COMPLETE", "LOCKS", "config_hash", "is_complete", "status", "mark_complete", "reset_partial", "stage_lock"]

COMPLETE = ".complete.json"  # written last: a stage folder without it is partial and gets redone
LOCKS = ".locks"             # under the artifacts folder: one lock file per stage key, one for the build


def config_hash(config: Mapping[str, Any], inputs: Mapping[str, str] | None = None, length: int = 12) -> str:
    """Stable hash of a stage's config and its inputs' keys (order of keys does not matter)."""
    blob = json.dumps({"config": config, "inputs": dict(inputs or {})}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def is_complete(path: str | os.PathLike) -> bool:
    return (Path(path) / COMPLETE).is_file()


def status(path: str | os.PathLike) -> str:
    """``cached`` (complete), ``partial`` (a folder without its mark) or ``missing``."""
    path = Path(path)
    return "cached" if is_complete(path) else "partial" if path.exists() else "missing"


def mark_complete(path: str | os.PathLike, record: Mapping[str, Any]) -> None:
    """Record that `path` holds a finished stage (atomically: a unique temp file, then rename)."""
    atomic_write_json(Path(path) / COMPLETE, dict(record))


def reset_partial(path: str | os.PathLike) -> Path:
    """Empty a stage folder left partial by a killed run, so the stage starts clean (call under its lock)."""
    path = Path(path)
    if path.exists() and not is_complete(path):
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def stage_lock(artifacts: str | os.PathLike, key: str, timeout: float | None = None) -> Iterator[Path]:
    """Hold the lock of stage folder `key` (a second run waits, naming the holder, or times out)."""
    with file_lock(Path(artifacts) / LOCKS / f"{key}.lock", what=f"stage {key}", timeout=timeout) as lock:
        yield lock

"""Artifact cache: a heavy stage's outputs live in a folder named by the hash of what made them."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Mapping

__all__ = ["config_hash", "stage_dir", "is_complete", "mark_complete", "reset_partial", "COMPLETE"]

COMPLETE = ".complete.json"  # written last: a stage folder without it is partial and gets redone


def config_hash(config: Mapping[str, Any], inputs: Mapping[str, str] | None = None, length: int = 12) -> str:
    """Stable hash of a stage's config and its inputs' hashes (order of keys does not matter)."""
    blob = json.dumps({"config": config, "inputs": dict(inputs or {})}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


def stage_dir(root: str | os.PathLike, stage: str, config: Mapping[str, Any], inputs: Mapping[str, str] | None = None) -> Path:
    """``root/<stage>-<hash>``: where this stage's artifacts for this exact config live."""
    return Path(root) / f"{stage}-{config_hash(config, inputs)}"


def is_complete(path: str | os.PathLike) -> bool:
    return (Path(path) / COMPLETE).is_file()


def mark_complete(path: str | os.PathLike, config: Mapping[str, Any], **extra: Any) -> None:
    """Record that `path` holds a finished stage (atomically: temp file, then rename)."""
    path = Path(path)
    tmp = path / (COMPLETE + ".tmp")
    tmp.write_text(json.dumps({"config": config, **extra}, sort_keys=True, indent=1, default=str))
    os.replace(tmp, path / COMPLETE)


def reset_partial(path: str | os.PathLike) -> Path:
    """Empty a stage folder left partial by a killed run, so the stage starts clean."""
    path = Path(path)
    if path.exists() and not is_complete(path):
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path

"""The numbers of a build: every stage's ``metrics.json`` and the chapters' key numbers in one file.

``<artifacts>/registry.json`` maps each stage instance (``tagger[seed=0]``,
``transport[layer=z128_post,...]``, …) to the folder most recently ensured for it, so
:func:`collect_metrics` reports the configuration last run. The registry and the gathered
``metrics.json`` are written atomically under the build's lock: concurrent runs never lose an entry.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

from ..util.atomic import atomic_write_json
from ..util.locks import file_lock
from ..util.versions import package_versions
from . import cache

__all__ = ["REGISTRY", "BUILD_LOCK", "register", "read_registry", "save_chapter_numbers", "collect_metrics"]

REGISTRY = "registry.json"
BUILD_LOCK = "build.lock"  # under <artifacts>/.locks: guards the registry's read-modify-write


def read_registry(artifacts: str | os.PathLike) -> dict[str, str]:
    path = Path(artifacts) / REGISTRY
    return json.loads(path.read_text()) if path.is_file() else {}


def register(artifacts: str | os.PathLike, role: str, key: str) -> None:
    """Record that `role` (a stage instance) is served by folder `key`."""
    artifacts = Path(artifacts)
    if read_registry(artifacts).get(role) == key:
        return
    with file_lock(artifacts / cache.LOCKS / BUILD_LOCK, what="the build registry", log=False):
        reg = read_registry(artifacts)
        reg[role] = key
        atomic_write_json(artifacts / REGISTRY, reg)


def save_chapter_numbers(root: str | os.PathLike, chapter: str, numbers: Mapping[str, Any]) -> Path:
    """A chapter's key numbers as ``<root>/chapters/<chapter>.json`` (gathered by :func:`collect_metrics`)."""
    return atomic_write_json(Path(root) / "chapters" / f"{chapter}.json", dict(numbers))


def collect_metrics(root: str | os.PathLike, profile_name: str) -> dict[str, Any]:
    """Gather every registered stage's ``metrics.json`` and the chapters' numbers into ``<root>/metrics.json``.

    Stage numbers are keyed by the stage instance (``evaluation[post=True]``); the stage name alone
    (``evaluation``) points at the first instance of that stage, for short paths in the book.
    """
    root = Path(root)
    artifacts = root / "artifacts"
    stages, folders = {}, {}
    for role, key in sorted(read_registry(artifacts).items()):
        folder = artifacts / key
        if not cache.is_complete(folder):
            continue
        folders[role] = key
        metrics = folder / "metrics.json"
        if metrics.is_file():
            stages[role] = json.loads(metrics.read_text())
    short = {}
    for role, numbers in stages.items():
        short.setdefault(role.split("[", 1)[0], numbers)
    chapters = {p.stem: json.loads(p.read_text()) for p in sorted((root / "chapters").glob("*.json"))}
    out = {"profile": profile_name, **short, "stages": stages, "chapters": chapters, "folders": folders,
           "versions": package_versions()}
    with file_lock(artifacts / cache.LOCKS / BUILD_LOCK, what="the build registry", log=False):
        atomic_write_json(root / "metrics.json", out)
    return out

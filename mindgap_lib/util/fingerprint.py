"""Code fingerprints: a hash of the source files a stage runs, so an edit re-keys its artifacts.

A stage names the modules and packages of :mod:`mindgap_lib` whose code decides its results (for
the tagger: ``tagger``, ``io``, ``schema``); the fingerprint hashes their bytes. Editing any of
them changes the stage's key and, through the input keys, every key downstream, while stages
that do not run that code keep theirs.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Iterable

__all__ = ["PACKAGE_ROOT", "code_fingerprint", "source_files"]

PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def source_files(parts: Iterable[str], root: Path = PACKAGE_ROOT) -> list[Path]:
    """The ``.py`` files of `parts`: ``"transport"`` (a package, recursively) or ``"io"`` / ``"tagger/model"``."""
    files: set[Path] = set()
    for part in parts:
        base = root / part
        if base.is_dir():
            files.update(base.rglob("*.py"))
        elif base.with_suffix(".py").is_file():
            files.add(base.with_suffix(".py"))
        else:
            raise FileNotFoundError(f"code fingerprint: no module or package {part!r} under {root}")
    return sorted(files)


@functools.lru_cache(maxsize=None)
def _fingerprint(parts: tuple[str, ...], root: Path, stamp: tuple) -> str:
    h = hashlib.sha256()
    for f in source_files(parts, root):
        h.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def code_fingerprint(parts: Iterable[str], root: Path = PACKAGE_ROOT) -> str:
    """16 hex digits over the sources of `parts` (cached while no file's mtime or size changes)."""
    parts = tuple(sorted(set(parts)))
    stamp = tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in source_files(parts, root))
    return _fingerprint(parts, root, stamp)

"""The numbers of a build: every stage's ``metrics.json`` and the chapters' key numbers in one file.

``<artifacts>/registry.json`` maps each role (``tagger``, ``transport[z128_post:target]``, …) to the
stage most recently ensured for it, so :func:`collect_metrics` reports the configuration last run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

from . import cache
from .stages import profile_name, profile_root

__all__ = ["REGISTRY", "save_chapter_numbers", "package_versions", "collect_metrics"]

REGISTRY = "registry.json"  # role -> stage key of the most recent ensure_* call (read by collect_metrics)


def _register(artifacts: Path, role: str, key: str) -> None:
    path = artifacts / REGISTRY
    reg = json.loads(path.read_text()) if path.is_file() else {}
    if reg.get(role) == key:
        return
    reg[role] = key
    tmp = path.with_name(f"{REGISTRY}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(reg, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True, default=str))
    os.replace(tmp, path)


def save_chapter_numbers(profile, build_dir: str | os.PathLike, chapter: str, numbers: Mapping[str, Any]) -> Path:
    """A chapter's key numbers as ``<root>/chapters/<chapter>.json`` (gathered by :func:`collect_metrics`)."""
    path = profile_root(profile, build_dir) / "chapters" / f"{chapter}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_json(path, dict(numbers))
    return path


def package_versions() -> dict[str, str]:
    import platform
    from importlib import metadata

    names = ("mindgap_lib", "numpy", "torch", "pythia8mc", "fastjet", "uproot", "awkward", "scikit-learn",
             "pot", "plotly", "papermill", "jupyter-book")
    out = {"python": platform.python_version()}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            pass
    return out


def collect_metrics(profile, build_dir: str | os.PathLike = "build") -> dict[str, Any]:
    """Gather every registered stage's ``metrics.json`` and the chapters' numbers into ``<root>/metrics.json``.

    The registry holds, per role (``dataset``, ``tagger``, ``transport[z128_post:target]``, …), the
    stage most recently ensured, so numbers always come from the configuration last run.
    """
    root = profile_root(profile, build_dir)
    artifacts = root / "artifacts"
    reg_path = artifacts / REGISTRY
    registry = json.loads(reg_path.read_text()) if reg_path.is_file() else {}
    stages, hashes = {}, {}
    for role, key in sorted(registry.items()):
        folder = artifacts / key
        if not cache.is_complete(folder):
            continue
        hashes[role] = key
        metrics = folder / "metrics.json"
        if metrics.is_file():
            stages[role] = json.loads(metrics.read_text())
    chapters = {p.stem: json.loads(p.read_text()) for p in sorted((root / "chapters").glob("*.json"))}
    out = {"profile": profile_name(profile), **stages, "chapters": chapters, "config_hashes": hashes,
           "versions": package_versions()}
    root.mkdir(parents=True, exist_ok=True)
    _write_json(root / "metrics.json", out)
    return out

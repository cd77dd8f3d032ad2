"""What each stage leaves in its folder, and typed loaders for it: the contracts between stages.

Chapters and stages never open a stage's files by name; they ask its artifact (``build.ensure(...)``
returns one) for what they need. Every artifact has ``path`` (its folder) and ``metrics()`` (its
``metrics.json``, or ``{}``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BuildError

__all__ = ["Artifact", "JetsArtifact", "TaggerArtifact", "LatentsArtifact", "TransportArtifact", "KnownMapsArtifact",
           "EvaluationArtifact", "ScanArtifact", "KnobsArtifact", "GeometryArtifact", "BeyondArtifact", "METRICS"]

METRICS = "metrics.json"


def _json(path: Path) -> Any:
    if not path.is_file():
        raise BuildError(f"{path}: missing (the stage that writes it did not finish)")
    return json.loads(path.read_text())


@dataclass(frozen=True)
class Artifact:
    """A finished stage folder."""

    path: Path

    def metrics(self) -> dict[str, Any]:
        p = self.path / METRICS
        return json.loads(p.read_text()) if p.is_file() else {}

    def __fspath__(self) -> str:  # an artifact can be passed where a folder is expected
        return str(self.path)


@dataclass(frozen=True)
class JetsArtifact(Artifact):
    """Generated jets in the ``mindgap generate`` layout: ``<split>/<variation>/<Class>_NNNN.root``."""

    def files(self, split: str, variation: str, cls: str | None = None) -> list[Path]:
        from .generation.dataset import files

        return files(self.path, split, variation, cls)


@dataclass(frozen=True)
class TaggerArtifact(Artifact):
    """``tagger.pt`` (weights, architecture, input transform), ``metrics.json``, ``test_scores.npz``
    (logits, labels, jet_pt and the first head layer ``z`` of the tagger's test jets)."""

    def model(self, device: str = "cpu"):
        from .tagger.checkpoint import load

        return load(self.path, device)

    def test_scores(self) -> dict[str, np.ndarray]:
        with np.load(self.path / "test_scores.npz") as npz:
            return {k: npz[k] for k in npz.files}


@dataclass(frozen=True)
class LatentsArtifact(Artifact):
    """``<variation>.npz``: every head layer of the frozen tagger, ``jet_pt`` and ``jet_eta``, per jet."""

    variation: str = "nominal"

    @property
    def file(self) -> Path:
        return self.path / f"{self.variation}.npz"

    def arrays(self, keys: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        with np.load(self.file) as npz:
            return {k: npz[k] for k in (keys or npz.files)}


@dataclass(frozen=True)
class TransportArtifact(Artifact):
    """``map/`` (the fitted map), ``calibrated.npz`` (every source row moved), ``metrics.json``."""

    def map(self, device: str = "cpu"):
        from .transport.map import TransportMap

        return TransportMap.load(self.path / "map", device=device)

    def calibrated(self) -> np.ndarray:
        with np.load(self.path / "calibrated.npz") as npz:
            return npz[npz.files[0]]


@dataclass(frozen=True)
class KnownMapsArtifact(Artifact):
    """``rows.json`` and ``maps/<pair>-<dim>/``: the solver on pairs whose Brenier map is known."""

    def results(self, seed: int = 0, device: str = "cpu"):
        from .transport.validation import load_known_maps

        return load_known_maps(self.path, seed, device)


@dataclass(frozen=True)
class EvaluationArtifact(Artifact):
    """``metrics.json``, ``figures.json``, ``pca.json`` and ``rows.npz`` (the rows every number used)."""

    def figures(self) -> dict[str, Any]:
        return _json(self.path / "figures.json")

    def pca(self) -> dict[str, Any]:
        return _json(self.path / "pca.json")

    def rows(self) -> dict[str, np.ndarray]:
        with np.load(self.path / "rows.npz") as npz:
            return {k: npz[k] for k in npz.files}

    def scores(self, comparison: str, layer: str) -> tuple[np.ndarray, np.ndarray]:
        """Out-of-fold scores P(b | x) of the rows of a and of b (eval-row order) of one discriminator."""
        with np.load(self.path / "scores.npz") as npz:
            return npz[f"{comparison}/{layer}/a"], npz[f"{comparison}/{layer}/b"]


@dataclass(frozen=True)
class ScanArtifact(Artifact):
    """``scan.json`` (the points) and ``scan_figures.json`` (their closure histograms)."""

    def points(self) -> list[dict[str, Any]]:
        return _json(self.path / "scan.json")["points"]

    def figures(self) -> dict[str, Any]:
        return _json(self.path / "scan_figures.json")


@dataclass(frozen=True)
class KnobsArtifact(Artifact):
    """``variants.json`` (label -> file) and one ``variant_NN.npz`` of track/jet summaries per knob variant."""

    def variants(self) -> dict[str, dict[str, np.ndarray]]:
        index = _json(self.path / "variants.json")
        out = {}
        for label, name in index.items():
            with np.load(self.path / name) as npz:
                out[label] = {k: npz[k] for k in npz.files}
        return out


@dataclass(frozen=True)
class GeometryArtifact(Artifact):
    """``geometry.json``: dim(Q) of the latents, classes and jets, Sinkhorn vs EMD, the transport link."""

    def study(self) -> dict[str, Any]:
        return _json(self.path / "geometry.json")


@dataclass(frozen=True)
class BeyondArtifact(Artifact):
    """``beyond.json``, ``metrics.json`` and ``maps/<name>/`` of the beyond stage."""

    def study(self) -> dict[str, Any]:
        path = self.path / "beyond.json"
        if not path.is_file():
            raise BuildError(f"{path}: missing (the beyond stage did not finish)")
        return json.loads(path.read_text())

    def map_names(self) -> list[str]:
        maps = self.path / "maps"
        return sorted(p.name for p in maps.iterdir() if p.is_dir()) if maps.is_dir() else []

    def map(self, name: str, device: str = "cpu") -> Any:
        """A saved map by name (``conditional``, ``variation-ip_only``, ``bootstrap-0``, ...)."""
        from .transport.conditional_map import ConditionalMap
        from .transport.map import TransportMap

        folder = self.path / "maps" / name
        if not folder.is_dir():
            raise BuildError(f"{folder}: no such map (have: {', '.join(self.map_names()) or 'none'})")
        kind = json.loads((folder / "config.json").read_text())
        return (ConditionalMap if "picnn" in kind else TransportMap).load(folder, device=device)

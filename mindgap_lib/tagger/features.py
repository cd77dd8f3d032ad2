"""Tagger inputs: the 17 ParT particle features, 5 jet features and labels, as padded tensors.

Standardisation uses *fixed* constants (those of the ParT JetClass configuration for the
particle features), never statistics of the sample at hand: source and target latents must
be computed by exactly the same function, or the calibration would chase the normalisation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import torch

from ..io import read_jets
from ..schema import LABELS

__all__ = [
    "FeatureError", "PARTICLE_FEATURES", "JET_FEATURES", "INPUT_BRANCHES", "Features",
    "particle_features", "jet_features", "labels", "load_features",
]

_CLIP = 5.0  # standardised values are clipped to [-5, 5]

# name -> (centre, scale, lower clip, upper clip); standardised value = (x - centre) * scale
PARTICLE_FEATURES: dict[str, tuple[float, float, float, float]] = {
    "log_pt": (1.7, 0.7, -_CLIP, _CLIP),
    "log_e": (2.0, 0.7, -_CLIP, _CLIP),
    "log_ptrel": (-4.7, 0.7, -_CLIP, _CLIP),
    "log_erel": (-4.7, 0.7, -_CLIP, _CLIP),
    "delta_r": (0.2, 4.0, -_CLIP, _CLIP),
    "charge": (0.0, 1.0, -_CLIP, _CLIP),
    "is_charged_hadron": (0.0, 1.0, -_CLIP, _CLIP),
    "is_neutral_hadron": (0.0, 1.0, -_CLIP, _CLIP),
    "is_photon": (0.0, 1.0, -_CLIP, _CLIP),
    "is_electron": (0.0, 1.0, -_CLIP, _CLIP),
    "is_muon": (0.0, 1.0, -_CLIP, _CLIP),
    "tanh_d0": (0.0, 1.0, -_CLIP, _CLIP),
    "d0err": (0.0, 1.0, 0.0, 1.0),
    "tanh_dz": (0.0, 1.0, -_CLIP, _CLIP),
    "dzerr": (0.0, 1.0, 0.0, 1.0),
    "deta": (0.0, 1.0, -_CLIP, _CLIP),
    "dphi": (0.0, 1.0, -_CLIP, _CLIP),
}

# jets of 500-1000 GeV, |eta| < 2: log pT ~ 6.2-6.9, log E ~ 6.2-8.2, tens of particles
JET_FEATURES: dict[str, tuple[float, float, float, float]] = {
    "log_pt": (6.5, 3.0, -_CLIP, _CLIP),
    "eta": (0.0, 0.5, -_CLIP, _CLIP),
    "phi": (0.0, 1.0 / np.pi, -_CLIP, _CLIP),
    "log_e": (7.0, 1.0, -_CLIP, _CLIP),
    "nparticles": (50.0, 0.04, -_CLIP, _CLIP),
}

_PART = ("part_px", "part_py", "part_energy", "part_deta", "part_dphi", "part_charge",
         "part_isChargedHadron", "part_isNeutralHadron", "part_isPhoton", "part_isElectron", "part_isMuon",
         "part_d0val", "part_d0err", "part_dzval", "part_dzerr")
_JET = ("jet_pt", "jet_eta", "jet_phi", "jet_energy", "jet_nparticles")
INPUT_BRANCHES: tuple[str, ...] = _PART + _JET


class FeatureError(ValueError):
    """Input jets that cannot be turned into tagger features (non-finite values, bad labels)."""


@dataclass
class Features:
    """A sample ready for the tagger; particles sorted by decreasing pT, real ones first.

    particles: (N, P, 17) float32; mask: (N, P) bool (True = real particle);
    jets: (N, 5) float32; labels: (N,) int64 (-1 when unknown); jet_pt, jet_eta: (N,) raw, GeV.
    """

    particles: torch.Tensor
    mask: torch.Tensor
    jets: torch.Tensor
    labels: torch.Tensor
    jet_pt: np.ndarray
    jet_eta: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, index: torch.Tensor | slice, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
        """Rows `index` as a model batch, padding trimmed to the longest jet (outputs unchanged)."""
        mask = self.mask[index]
        width = max(int(mask.sum(1).max()) if len(mask) else 0, 1)
        return {"particles": self.particles[index, :width].to(device), "mask": mask[:, :width].to(device),
                "jets": self.jets[index].to(device), "labels": self.labels[index].to(device)}


def _standardise(x: np.ndarray, consts: Mapping[str, tuple[float, float, float, float]]) -> np.ndarray:
    """x (..., F) with F = len(consts), columns in the order of `consts`."""
    c = np.array(list(consts.values()), dtype=np.float32)
    return np.clip((x - c[:, 0]) * c[:, 1], c[:, 2], c[:, 3]).astype(np.float32)


def _finite(source: str, name: str, values: np.ndarray) -> np.ndarray:
    bad = ~np.isfinite(values)
    if bad.any():
        raise FeatureError(f"{source}: branch {name!r} has {int(bad.sum())} non-finite value(s) (NaN/inf); "
                           "the tagger cannot use these jets")
    return values


def _flat(arrays, name: str, source: str) -> np.ndarray:
    import awkward as ak

    return _finite(source, name, np.asarray(ak.flatten(arrays[name]), dtype=np.float64))


def particle_features(arrays, num_particles: int, source: str = "jets") -> tuple[np.ndarray, np.ndarray]:
    """The 17 standardised ParT features, (N, P, 17), and the mask (N, P).

    Particles are sorted by decreasing pT inside each jet and truncated to the `num_particles`
    hardest, so the result does not depend on the order the particles were stored in.
    """
    import awkward as ak

    counts = np.asarray(ak.num(arrays["part_px"], axis=1))
    n, total = len(counts), int(counts.sum())
    f = {b: _flat(arrays, b, source) for b in _PART}
    jet_pt = np.repeat(_finite(source, "jet_pt", np.asarray(arrays["jet_pt"], np.float64)), counts)
    jet_e = np.repeat(_finite(source, "jet_energy", np.asarray(arrays["jet_energy"], np.float64)), counts)
    pt = np.hypot(f["part_px"], f["part_py"])
    tiny = 1e-8
    cols = [
        np.log(np.maximum(pt, tiny)), np.log(np.maximum(f["part_energy"], tiny)),
        np.log(np.maximum(pt / np.maximum(jet_pt, tiny), tiny)),
        np.log(np.maximum(f["part_energy"] / np.maximum(jet_e, tiny), tiny)),
        np.hypot(f["part_deta"], f["part_dphi"]), f["part_charge"],
        f["part_isChargedHadron"], f["part_isNeutralHadron"], f["part_isPhoton"], f["part_isElectron"], f["part_isMuon"],
        np.tanh(f["part_d0val"]), f["part_d0err"], np.tanh(f["part_dzval"]), f["part_dzerr"],
        f["part_deta"], f["part_dphi"],
    ]
    flat = _standardise(np.stack(cols, axis=1), PARTICLE_FEATURES) if total else np.zeros((0, 17), np.float32)
    jet_index = np.repeat(np.arange(n), counts)
    order = np.lexsort((-pt, jet_index))  # by jet, then by decreasing pT
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    slot = np.arange(total) - starts  # rank of each sorted particle within its jet
    keep = slot < num_particles
    x = np.zeros((n, num_particles, len(PARTICLE_FEATURES)), np.float32)
    mask = np.zeros((n, num_particles), bool)
    x[jet_index[keep], slot[keep]] = flat[order][keep]
    mask[jet_index[keep], slot[keep]] = True
    return x, mask


def jet_features(arrays, source: str = "jets") -> np.ndarray:
    """(N, 5): standardised log pT, eta, phi, log E, number of particles (enter the model by FiLM)."""
    get = {b: _finite(source, b, np.asarray(arrays[b], np.float64)) for b in _JET}
    cols = [np.log(np.maximum(get["jet_pt"], 1e-8)), get["jet_eta"], get["jet_phi"],
            np.log(np.maximum(get["jet_energy"], 1e-8)), get["jet_nparticles"]]
    return _standardise(np.stack(cols, axis=1), JET_FEATURES)


def labels(arrays, source: str = "jets") -> np.ndarray:
    """Class index per jet from the ten label branches (order = schema.CLASSES)."""
    onehot = np.stack([np.asarray(arrays[b], np.float64) for b in LABELS], axis=1)
    _finite(source, "label_*", onehot)
    ones = (onehot > 0.5).sum(1)
    if len(onehot) and not np.all(ones == 1):
        bad = int(np.flatnonzero(ones != 1)[0])
        raise FeatureError(f"{source}: jet {bad} has {int(ones[bad])} of the label branches "
                           f"{', '.join(LABELS)} set; exactly one is required")
    return onehot.argmax(1).astype(np.int64)


def load_features(paths: Iterable[str | os.PathLike], num_particles: int, with_labels: bool = True) -> Features:
    """Read jet files and compute every tensor once (never per training step)."""
    parts = []
    for path in paths:
        arrays = read_jets(path, list(INPUT_BRANCHES) + (list(LABELS) if with_labels else []))
        src = str(Path(path))
        x, mask = particle_features(arrays, num_particles, src)
        y = labels(arrays, src) if with_labels else np.full(len(x), -1, np.int64)
        parts.append((x, mask, jet_features(arrays, src), y,
                      np.asarray(arrays["jet_pt"], np.float32), np.asarray(arrays["jet_eta"], np.float32)))
    if not parts:
        raise FeatureError("load_features: no files given")
    cat = [np.concatenate(c) for c in zip(*parts)]
    return Features(torch.from_numpy(cat[0]), torch.from_numpy(cat[1]), torch.from_numpy(cat[2]),
                    torch.from_numpy(cat[3]), cat[4], cat[5])

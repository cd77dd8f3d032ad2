"""Tagger inputs: the 17 ParT particle features, 5 jet features and labels, as padded tensors.

Continuous particle features go through a per-feature monotone map to unit-normal scale (the
quantiles of the nominal *training* jets mapped onto those of N(0, 1), as the paper's authors do
for pT, Δη, Δφ, d0, σ(d0), dz, σ(dz)). Without it the impact parameters, whose core is tens of µm
wide next to features of order one, barely reach the network. The map is fitted once, stored in
the checkpoint and applied identically to every sample: source and target latents must be
computed by exactly the same function, or the calibration would chase the normalisation.
Jet features use fixed constants.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import torch
from scipy.special import ndtri

from ..jetclass.io import read_jets
from ..jetclass.schema import LABELS
from .config import TaggerError

__all__ = [
    "FeatureError", "PARTICLE_FEATURES", "CONTINUOUS", "IMPACT", "JET_FEATURES", "INPUT_BRANCHES", "Features",
    "InputTransform", "fit_input_transform", "raw_particle_features", "particle_features", "jet_features", "labels",
    "load_features", "flat_inputs",
]

_CLIP = 5.0  # standardised values are clipped to [-5, 5]

# Raw per-particle columns, in model order: (GeV, mm, or dimensionless)
PARTICLE_FEATURES: tuple[str, ...] = (
    "log_pt", "log_e", "log_ptrel", "log_erel", "delta_r", "charge",
    "is_charged_hadron", "is_neutral_hadron", "is_photon", "is_electron", "is_muon",
    "d0", "d0err", "dz", "dzerr", "deta", "dphi",
)
# quantile-to-normal mapped; the rest (charge, particle-ID flags) enter as they are
CONTINUOUS: tuple[str, ...] = ("log_pt", "log_e", "log_ptrel", "log_erel", "delta_r", "d0", "d0err", "dz", "dzerr",
                               "deta", "dphi")
# defined for tracks only: fitted on charged particles, and 0 (the centre) for neutral ones
IMPACT: tuple[str, ...] = ("d0", "d0err", "dz", "dzerr")

# jets of 500-1000 GeV, |eta| < 2: log pT ~ 6.2-6.9, log E ~ 6.2-8.2, tens of particles
# name -> (centre, scale, lower clip, upper clip); standardised value = (x - centre) * scale
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


class FeatureError(TaggerError):
    """Input jets that cannot be turned into tagger features (non-finite values, bad labels)."""


@dataclass(frozen=True)
class InputTransform:
    """Per-feature monotone map of the raw particle columns onto roughly N(0, 1).

    ``knots[i]`` are strictly increasing raw values of feature ``names[i]`` and ``scores[i]`` their
    normal scores (non-decreasing); values between knots are interpolated linearly, values beyond
    the ends take the end scores (at most ±``_CLIP``). Tied quantiles (σ(d0) takes the discrete
    values of a resolution table) are merged into one knot carrying their mean score, so the map
    stays a function and stays monotone.
    """

    names: tuple[str, ...]
    knots: tuple[np.ndarray, ...]
    scores: tuple[np.ndarray, ...]

    def __call__(self, x: np.ndarray, charged: np.ndarray) -> np.ndarray:
        """(n, 17) raw columns → standardised copy; `charged` (n,) marks tracks (IMPACT features)."""
        out = np.array(x, dtype=np.float32, copy=True)
        for name, k, sc in zip(self.names, self.knots, self.scores):
            i = PARTICLE_FEATURES.index(name)
            out[:, i] = np.interp(x[:, i], k, sc)
            if name in IMPACT:
                out[~charged, i] = 0.0
        return out

    def state(self) -> dict[str, object]:
        """Plain tensors and strings (loads with ``torch.load(weights_only=True)``)."""
        return {"names": list(self.names), "knots": [torch.from_numpy(np.asarray(k, np.float64)) for k in self.knots],
                "scores": [torch.from_numpy(np.asarray(v, np.float64)) for v in self.scores]}

    @classmethod
    def from_state(cls, state: Mapping[str, object]) -> "InputTransform":
        try:
            names = tuple(str(n) for n in state["names"])  # type: ignore[union-attr]
            knots = tuple(np.asarray(k, np.float64) for k in state["knots"])  # type: ignore[union-attr]
            scores = tuple(np.asarray(v, np.float64) for v in state["scores"])  # type: ignore[union-attr]
        except (KeyError, TypeError) as err:
            raise FeatureError(f"input transform: malformed state ({err})") from None
        if set(names) - set(PARTICLE_FEATURES) or not (len(names) == len(knots) == len(scores)):
            raise FeatureError(f"input transform: features {names} do not match this code's {PARTICLE_FEATURES}")
        for n, k, v in zip(names, knots, scores):
            if k.shape != v.shape or k.ndim != 1 or np.any(np.diff(k) <= 0) or np.any(np.diff(v) < 0):
                raise FeatureError(f"input transform: feature {n!r} is not a monotone map")
        return cls(names, knots, scores)


def _knots(values: np.ndarray, n_knots: int) -> tuple[np.ndarray, np.ndarray]:
    """Quantile knots of `values` and their normal scores, ties merged (mean score per distinct value)."""
    p = np.linspace(0.0, 1.0, n_knots)
    eps = 0.5 / max(len(values), 1)
    z = np.clip(ndtri(np.clip(p, eps, 1 - eps)), -_CLIP, _CLIP)
    q = np.quantile(values, p)
    uniq, inv = np.unique(q, return_inverse=True)
    score = np.bincount(inv, z) / np.bincount(inv)
    if len(uniq) == 1:  # a constant feature: map it to 0
        return np.array([uniq[0] - 1.0, uniq[0] + 1.0]), np.zeros(2)
    return uniq, score


def fit_input_transform(particles: np.ndarray, mask: np.ndarray, n_knots: int = 512) -> InputTransform:
    """Fit the map on raw columns (N, P, 17) of real particles (`mask`); tracks only for IMPACT."""
    real = particles[mask]
    if not len(real):
        raise FeatureError("input transform: no particles to fit on")
    charged = real[:, PARTICLE_FEATURES.index("charge")] != 0
    knots, scores = [], []
    for name in CONTINUOUS:
        col = real[:, PARTICLE_FEATURES.index(name)].astype(np.float64)
        if name in IMPACT:
            col = col[charged] if charged.any() else np.zeros(1)
        k, v = _knots(col, n_knots)
        knots.append(k)
        scores.append(v)
    return InputTransform(CONTINUOUS, tuple(knots), tuple(scores))


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

    def transformed(self, transform: InputTransform) -> "Features":
        """The same jets with raw particle columns mapped by `transform`."""
        x = particle_features(self.particles.numpy(), self.mask.numpy(), transform)
        return Features(torch.from_numpy(x), self.mask, self.jets, self.labels, self.jet_pt, self.jet_eta)

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


def raw_particle_features(arrays, num_particles: int, source: str = "jets") -> tuple[np.ndarray, np.ndarray]:
    """The 17 raw particle columns of :data:`PARTICLE_FEATURES`, (N, P, 17), and the mask (N, P).

    Logs of GeV, d0/dz and their errors in mm. Particles are sorted by decreasing pT inside each
    jet and truncated to the `num_particles` hardest, so the result does not depend on the order
    the particles were stored in.
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
        f["part_d0val"], f["part_d0err"], f["part_dzval"], f["part_dzerr"],
        f["part_deta"], f["part_dphi"],
    ]
    flat = np.stack(cols, axis=1).astype(np.float32) if total else np.zeros((0, len(PARTICLE_FEATURES)), np.float32)
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


def particle_features(particles: np.ndarray, mask: np.ndarray, transform: InputTransform) -> np.ndarray:
    """Raw columns (N, P, 17) → the model's inputs: `transform` applied to real particles, padding 0."""
    out = np.zeros_like(particles, dtype=np.float32)
    real = particles[mask]
    if len(real):
        out[mask] = transform(real, real[:, PARTICLE_FEATURES.index("charge")] != 0)
    return out


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


def load_features(paths: Iterable[str | os.PathLike], num_particles: int, with_labels: bool = True,
                  transform: InputTransform | None = None) -> Features:
    """Read jet files and compute every tensor once (never per training step).

    With a `transform`, ``particles`` are the model's inputs; without one they are the raw
    columns (to fit a transform on, then :meth:`Features.transformed`).
    """
    parts = []
    for path in paths:
        arrays = read_jets(path, list(INPUT_BRANCHES) + (list(LABELS) if with_labels else []))
        src = str(Path(path))
        x, mask = raw_particle_features(arrays, num_particles, src)
        if transform is not None:
            x = particle_features(x, mask, transform)
        y = labels(arrays, src) if with_labels else np.full(len(x), -1, np.int64)
        parts.append((x, mask, jet_features(arrays, src), y,
                      np.asarray(arrays["jet_pt"], np.float32), np.asarray(arrays["jet_eta"], np.float32)))
    if not parts:
        raise FeatureError("load_features: no files given")
    cat = [np.concatenate(c) for c in zip(*parts)]
    return Features(torch.from_numpy(cat[0]), torch.from_numpy(cat[1]), torch.from_numpy(cat[2]),
                    torch.from_numpy(cat[3]), cat[4], cat[5])


def flat_inputs(feats: Features, names: Iterable[str] = CONTINUOUS) -> dict[str, np.ndarray]:
    """The model inputs `names` of every real particle (tracks only for :data:`IMPACT`), as flat arrays:
    what the tagger actually reads, for plots of source against target."""
    x, mask = feats.particles.numpy(), feats.mask.numpy()
    real = x[mask]
    charged = real[:, PARTICLE_FEATURES.index("charge")] != 0
    out = {}
    for name in names:
        col = real[:, PARTICLE_FEATURES.index(name)]
        out[name] = col[charged] if name in IMPACT else col
    return out

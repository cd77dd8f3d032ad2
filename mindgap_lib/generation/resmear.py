"""Detector-only variations of existing jets: a worse d0 resolution applied after the fact.

A nominal track has d0 = d0_true + σ·z₁ with σ the tracker's resolution. Adding σ·√((1+f)² − 1)·z₂
with an independent z₂ gives d0_true + (1+f)·σ·z: exactly the distribution the detector makes with a
resolution worse by the factor 1+f (a sum of independent Gaussians). The stored σ(d0) becomes
(1+f)·σ when the variation updates errors, as Delphes does. Nothing else of the event depends on the
d0 resolution (the detector draws the same random numbers either way), so a scan over d0-only
variations can re-use one generated sample instead of running Pythia again for every point.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from ..errors import MindgapError
from ..jetclass.io import read_jets, read_metadata, write_jets
from ..util.seeds import derive_seed
from .variations import Variation, get_variation

__all__ = ["ResmearError", "is_d0_only", "resmear_jets", "resmear_file"]


class ResmearError(MindgapError, ValueError):
    """A variation that cannot be derived from nominal jets (it changes more than the d0 resolution)."""


def is_d0_only(variation: Variation) -> bool:
    """True when `variation` differs from nominal only by the d0 resolution (and its stored error)."""
    nominal = get_variation("nominal")
    same = {k: v for k, v in variation.to_dict().items()
            if k not in ("name", "ip_smear_min", "ip_smear_max", "ip_update_errors")}
    ref = {k: v for k, v in nominal.to_dict().items() if k in same}
    return same == ref


def resmear_jets(jets: ak.Array, variation: Variation, rng: np.random.Generator) -> dict[str, Any]:
    """Every branch of nominal `jets`, with charged-track d0 (and σ(d0)) as `variation` would measure them."""
    if not is_d0_only(variation):
        raise ResmearError(f"variation {variation.name!r} changes more than the d0 resolution: generate it instead")
    counts = ak.to_numpy(ak.num(jets["part_px"], axis=1))
    flat = {k: ak.to_numpy(ak.flatten(jets[k])).astype(np.float64)
            for k in ("part_px", "part_py", "part_pz", "part_d0val", "part_d0err", "part_charge")}
    pt = np.hypot(flat["part_px"], flat["part_py"])
    eta = np.arcsinh(flat["part_pz"] / np.maximum(pt, 1e-12))
    charged = flat["part_charge"] != 0
    factor = variation.ip_factor(pt, eta)
    extra = np.sqrt(np.maximum(factor**2 - 1.0, 0.0)) * flat["part_d0err"] * rng.standard_normal(len(pt))
    d0 = np.where(charged, flat["part_d0val"] + extra, flat["part_d0val"])
    d0err = np.where(charged & variation.ip_update_errors, factor * flat["part_d0err"], flat["part_d0err"])
    out = {k: jets[k] for k in jets.fields}
    out["part_d0val"] = ak.unflatten(d0.astype(np.float32), counts)
    out["part_d0err"] = ak.unflatten(d0err.astype(np.float32), counts)
    return out


def resmear_file(source: str | os.PathLike, out: str | os.PathLike, variation: str | Variation, seed: int) -> Path:
    """Write `source` (a nominal jet file) with `variation`'s d0 resolution to `out`, atomically."""
    var = get_variation(variation)
    meta = read_metadata(source)
    rng = np.random.default_rng(derive_seed(seed, "resmear", var.name, Path(source).name))
    jets = resmear_jets(read_jets(source), var, rng)
    meta = {**meta, "variation": var.to_dict(), "resmeared_from": {"file": Path(source).name, "seed": seed}}
    return write_jets(out, jets, meta)

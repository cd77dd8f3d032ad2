"""Chapter 01's knob scan: one small QCD sample per generator or detector knob, all from one seed.

Sharing the seed means the d0-only variants differ from nominal by the smearing alone (same
events, same tracks), so their effect is seen without sampling noise on top.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import awkward as ak

from ..jetclass.summaries import track_summary
from ..util.atomic import atomic_write_json, atomic_write_npz
from .config import KnobsConfig
from .variations import Variation, get_variation

__all__ = ["KNOB_VARIANTS", "knob_variations", "generate_knob_samples"]

# label -> a preset name or the knobs of a custom variation
KNOB_VARIANTS: dict[str, str | dict[str, Any]] = {
    "nominal": "nominal",
    "d0 +10 %": "ip10", "d0 +20 %": "ip20", "d0 +30 %": "ip30",
    "d0 +10–30 % (f(pT, η))": "ip_only",
    "d0 +10–30 %, errors nominal": {"name": "ip_only_nominal_errors", "ip_smear_min": 0.1, "ip_smear_max": 0.3,
                                    "ip_update_errors": False},
    "μR, μF × 2": "scale_only",
    "μR, μF × 0.5": {"name": "scale_half", "mu_r": 0.5, "mu_f": 0.5},
    "target (d0 + scales)": "target",
    "target, errors nominal": "target_nominal_errors",
    "tracking efficiency × 0.9": {"name": "track_eff", "track_eff_scale": 0.9},
    "calorimeter resolution × 1.5": {"name": "calo_res", "calo_res_scale": 1.5},
}


def knob_variations() -> dict[str, Variation]:
    """:data:`KNOB_VARIANTS` as :class:`Variation` objects (their content enters the stage's key)."""
    return {label: get_variation(v) for label, v in KNOB_VARIANTS.items()}


def generate_knob_samples(cfg: KnobsConfig, out: str | os.PathLike, process: str = "QCD_multijet", max_batch: int = 200,
                          progress: bool = False) -> dict[str, str]:
    """Generate ``cfg.jets`` QCD jets of `process` per knob variant with seed ``cfg.seed``; write their summaries.

    Writes ``variant_NN.npz`` (:func:`~mindgap_lib.jetclass.summaries.track_summary`) and
    ``variants.json`` (label -> file). Returns that index.
    """
    from tqdm.auto import tqdm

    from .generate import generate_jets

    out = Path(out)
    index = {}
    for i, (label, variation) in enumerate(tqdm(knob_variations().items(), desc="knob variants", disable=not progress)):
        jets = generate_jets(process, variation, cfg.jets, cfg.seed, max_batch=max_batch)
        index[label] = atomic_write_npz(out / f"variant_{i:02d}.npz", **track_summary(ak.Array(jets))).name
    atomic_write_json(out / "variants.json", index, sort_keys=False)
    return index

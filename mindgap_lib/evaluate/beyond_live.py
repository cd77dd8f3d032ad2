"""Chapter 06's live control: calibrate towards one chosen variation and histogram an LLR, in a second.

Given the source's and a variation's latents, it applies a cached map (a stage's) when there is
one, or else fits the linear (Bures) map on the fit rows on the spot (milliseconds), pushes the
source's eval rows through the frozen head, and returns the histograms of one LLR for the
uncalibrated source, the calibrated source and the variation's eval rows.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..splits import SplitConfig, calibration_rows
from ..transport.linear import fit_linear
from .calibrated import calibrate
from .closure import common_edges, physics_llrs, weighted_hist

__all__ = ["live_llr"]


def _density(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    h, _ = weighted_hist(x, edges)
    return h / (h.sum() * np.diff(edges))


def live_llr(model: Any, source: Mapping[str, np.ndarray], target: Mapping[str, np.ndarray], split: SplitConfig,
             target_name: str, tmap: Any = None, *, subspace_tol: float = 1e-5, llr: str = "log_pHbb_pQCD",
             bins: int = 30) -> dict[str, Any]:
    """Histograms of `llr` (target-fixed bins): ``edges``, ``target``, ``uncalibrated``, ``calibrated``,
    and ``map`` ("cached" or "linear, fitted now"). `source` is the ``nominal`` latents, `target` those
    of the sample `target_name` (their names pick their fit/eval rows)."""
    z, lg = model.head.names.z, model.head.names.logits
    rs = calibration_rows(len(source[z]), split, "nominal")
    rt = calibration_rows(len(target[z]), split, target_name)
    kind = "cached"
    if tmap is None:
        tmap, kind = fit_linear(source[z][rs.fit], target[z][rt.fit], subspace_tol), "linear, fitted now"
    cal = calibrate(model, tmap, source[z][rs.eval], z)[lg]
    tl = physics_llrs(target[lg][rt.eval])[llr]
    edges = common_edges(tl, bins)
    return {"edges": edges, "target": _density(tl, edges), "map": kind,
            "uncalibrated": _density(physics_llrs(source[lg][rs.eval])[llr], edges),
            "calibrated": _density(physics_llrs(cal)[llr], edges)}

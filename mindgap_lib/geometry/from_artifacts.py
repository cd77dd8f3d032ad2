"""The arrays of chapter 07's study, read from the stages it builds on (the only file of this
package that knows about artifacts; everything else takes arrays)."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from ..artifacts import Artifact
from ..jetclass.io import read_jets
from ..splits import calibration_rows
from .constituents import jet_constituents

__all__ = ["geometry_inputs", "JET_BRANCHES"]

JET_BRANCHES = ["part_px", "part_py", "part_deta", "part_dphi"]


def _jets(files, n: int, max_particles: int) -> list[np.ndarray]:
    jets, got = [], 0
    for f in files:
        if got >= n:
            break
        arrays = read_jets([f], JET_BRANCHES)
        jets += jet_constituents(arrays[: n - got], max_particles=max_particles)
        got = len(jets)
    return jets


def geometry_inputs(inputs: Mapping[str, Artifact], prof: Any) -> tuple:
    """``(latents, jets, class_latents, class_jets, residual)`` for :func:`~mindgap_lib.geometry.study.geometry_study`.

    Latents are the eval rows only (the map never saw them); the residual of each source eval row is
    |log p_target / p_calibrated| from the evaluation's cross-fitted discriminator at the first layer.
    """
    cfg = prof.geometry
    model = inputs["tagger"].model("cpu")
    z = model.head.names.z
    src = inputs["source"].arrays((z,))[z]
    tgt = inputs["target"].arrays((z,))[z]
    ev_s = calibration_rows(len(src), prof.split, "nominal").eval
    ev_t = calibration_rows(len(tgt), prof.split, "target").eval
    cal = inputs["transport"].map("cpu").transport(src[ev_s])
    rows = inputs["evaluation"].rows()
    if np.array_equal(rows["source_eval"], ev_s):
        s_cal, _ = inputs["evaluation"].scores("calibrated_vs_target", z)
        s = np.clip(s_cal.astype(np.float64), 1e-6, 1 - 1e-6)
        residual = np.abs(np.log(s / (1 - s)))
    else:  # the evaluation was capped ([evaluate] max_events): no score for every row
        residual = None
    latents = {"source": src[ev_s], "target": tgt[ev_t], "calibrated": cal}
    scores = inputs["tagger"].test_scores()
    from ..jetclass.schema import CLASSES

    class_latents = {c: scores["z"][scores["labels"] == CLASSES.index(c)] for c in cfg.classes}
    class_latents = {c: v for c, v in class_latents.items() if len(v) > cfg.local_k}
    jets = _jets(inputs["jets"].files("calib", "nominal", "QCD"), max(cfg.emd_jets, 2 * cfg.sinkhorn_pairs),
                 cfg.max_particles)
    class_jets = {c: _jets(inputs["train"].files("train", "nominal", c), cfg.emd_class_jets, cfg.max_particles)
                  for c in cfg.classes}
    return latents, jets, class_latents, class_jets, residual

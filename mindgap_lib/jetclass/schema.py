"""The JetClass file layout: tree name, branch names and their dtypes.

Taken from the JetClass production (jet-universe/jetclass_generation): makeNtuples.C fills
float scalars and ``vector<float>`` particle arrays, then postprocessing/rename.py derives the
label and particle-ID branches with RDataFrame, whose expression types fix their dtypes
(``1 - float`` is float, ``bool + bool`` is int, ``x == 41`` is bool, sums of RVec
comparisons are int).
"""

from __future__ import annotations

import numpy as np

__all__ = ["TREE", "CLASSES", "LABELS", "PARTICLE_BRANCHES", "JET_BRANCHES", "AUX_BRANCHES", "BRANCHES", "is_jagged"]

TREE = "tree"

# The ten JetClass classes, in the order of the label branches (this order defines class indices).
CLASSES: tuple[str, ...] = ("QCD", "Hbb", "Hcc", "Hgg", "H4q", "Hqql", "Zqq", "Wqq", "Tbqq", "Tbl")
LABELS: tuple[str, ...] = tuple(f"label_{c}" for c in CLASSES)

_f4, _i4, _b1 = np.dtype("float32"), np.dtype("int32"), np.dtype("bool")

# jagged per-particle branches (var * dtype)
PARTICLE_BRANCHES: dict[str, np.dtype] = {
    **{k: _f4 for k in ("part_px", "part_py", "part_pz", "part_energy", "part_deta", "part_dphi",
                        "part_d0val", "part_d0err", "part_dzval", "part_dzerr", "part_charge")},
    **{k: _i4 for k in ("part_isChargedHadron", "part_isNeutralHadron", "part_isPhoton",
                        "part_isElectron", "part_isMuon")},
}

LABEL_BRANCHES: dict[str, np.dtype] = {
    "label_QCD": _f4,
    "label_Hbb": _b1, "label_Hcc": _b1, "label_Hgg": _b1, "label_H4q": _b1, "label_Hqql": _b1,
    "label_Zqq": _i4, "label_Wqq": _i4, "label_Tbqq": _i4, "label_Tbl": _i4,
}

JET_BRANCHES: dict[str, np.dtype] = {
    k: _f4 for k in ("jet_pt", "jet_eta", "jet_phi", "jet_energy", "jet_nparticles", "jet_sdmass",
                     "jet_tau1", "jet_tau2", "jet_tau3", "jet_tau4")
}

AUX_BRANCHES: dict[str, np.dtype] = {
    k: _f4 for k in ("aux_genpart_eta", "aux_genpart_phi", "aux_genpart_pid", "aux_genpart_pt", "aux_truth_match")
}

# All branches in the order rename.py keeps them.
BRANCHES: dict[str, np.dtype] = {**PARTICLE_BRANCHES, **LABEL_BRANCHES, **JET_BRANCHES, **AUX_BRANCHES}


def is_jagged(branch: str) -> bool:
    return branch in PARTICLE_BRANCHES

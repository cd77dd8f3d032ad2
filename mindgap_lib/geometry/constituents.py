"""JetClass constituents as the (pt, eta, phi) arrays the EMD functions take, relative to the jet axis."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._inputs import GeometryError

__all__ = ["jet_constituents"]

_NEEDED = ("part_px", "part_py", "part_deta", "part_dphi")


def jet_constituents(arrays: Any, max_particles: int | None = None) -> list[np.ndarray]:
    """One float64 (n, 3) array of (pt [GeV], Δη, Δφ) per jet, sorted by decreasing pt.

    `arrays` holds the jagged JetClass branches ``part_px, part_py, part_deta, part_dphi`` (as
    returned by :func:`mindgap_lib.io.read_jets`, or any mapping of awkward / list-of-arrays).
    Δη, Δφ are the JetClass coordinates relative to the jet axis, so the EMD between two jets
    compares their substructure. `max_particles` keeps the hardest ones (the tagger's
    ``num_particles`` makes the EMD see what the tagger sees; the exact EMD costs ~n³).
    Zero-pt entries are dropped; a jet left without pt is a :class:`GeometryError`.
    """
    import awkward as ak

    missing = [b for b in _NEEDED if b not in _fields(arrays)]
    if missing:
        raise GeometryError(f"arrays: missing branch(es) {', '.join(missing)}")
    if max_particles is not None and max_particles < 1:
        raise GeometryError(f"max_particles: need a positive number or None, got {max_particles}")
    counts = np.asarray(ak.num(ak.Array(arrays["part_px"]), axis=1), dtype=np.int64)
    if len(counts) == 0:
        return []
    flat = {b: np.asarray(ak.flatten(ak.Array(arrays[b])), np.float64) for b in _NEEDED}
    cols = np.stack([np.hypot(flat["part_px"], flat["part_py"]), flat["part_deta"], flat["part_dphi"]], axis=1)
    if not np.isfinite(cols).all():
        raise GeometryError("arrays: constituent momenta or coordinates hold non-finite values")
    jets = []
    for i, jet in enumerate(np.split(cols, np.cumsum(counts)[:-1])):
        jet = jet[jet[:, 0] > 0]
        jet = jet[np.argsort(-jet[:, 0], kind="stable")][:max_particles]
        if len(jet) == 0:
            raise GeometryError(f"arrays: jet {i} has no constituent with positive pt")
        jets.append(jet)
    return jets


def _fields(arrays: Any) -> list[str]:
    fields = getattr(arrays, "fields", None)
    return list(fields) if fields is not None else list(arrays.keys())

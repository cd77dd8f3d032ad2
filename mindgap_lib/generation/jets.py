"""Jets: anti-kT R = 0.8 clustering, soft-drop mass and N-subjettiness, vectorised over a batch.

Choices follow the JetClass Delphes card (FatJetFinder): anti-kT with R = 0.8 on the
particle-flow candidates, jets above 500 GeV; soft drop with β = 0, z_cut = 0.1, R0 = 0.8 after
Cambridge/Aachen reclustering of the constituents (fastjet-contrib's SoftDrop default, run by
scikit-hep fastjet over all jets of a batch at once); N-subjettiness τ1..τ4 with β = 1, the
normalised measure (τ_N = Σ pT,i min_k ΔR_ik / (Σ pT,i R0), dimensionless) and Delphes' axes
choice (AxisMode 4: exclusive-kT axes refined by one minimisation pass), implemented here as a
few vectorised Lloyd/Weiszfeld iterations from the kT axes. ΔR is measured in (rapidity, φ); all
candidates are massless, so rapidity equals pseudorapidity.
"""

from __future__ import annotations

import warnings

import awkward as ak
import fastjet
import numpy as np

fastjet._swig.ClusterSequence.set_fastjet_banner_stream(None)  # keep notebook outputs free of the banner

__all__ = ["JET_R", "cluster", "softdrop_mass", "nsubjettiness", "four_vectors"]

JET_R = 0.8
_MAX_R = 1000.0  # fastjet's JetDefinition::max_allowable_R: recluster a jet's constituents into one object


def four_vectors(px, py, pz, e, counts: np.ndarray) -> ak.Array:
    """Flat momentum columns + per-group counts -> awkward lists of {px, py, pz, E} (fastjet input)."""
    rec = ak.zip({"px": np.asarray(px, np.float64), "py": np.asarray(py, np.float64),
                  "pz": np.asarray(pz, np.float64), "E": np.asarray(e, np.float64)})
    return ak.unflatten(rec, counts)


def cluster(events: ak.Array, min_pt: float, radius: float = JET_R) -> tuple[ak.Array, ak.Array]:
    """Anti-kT jets above `min_pt` per event, and the indices of their constituents in each event."""
    seq = fastjet.ClusterSequence(events, fastjet.JetDefinition(fastjet.antikt_algorithm, radius))
    return seq.inclusive_jets(min_pt), seq.constituent_index(min_pt)


def softdrop_mass(constituents: ak.Array, beta: float = 0.0, z_cut: float = 0.1, r0: float = JET_R) -> np.ndarray:
    """Groomed mass [GeV] of each jet (one list of constituent four-vectors per jet)."""
    if len(constituents) == 0:
        return np.zeros(0)
    seq = fastjet.ClusterSequence(constituents, fastjet.JetDefinition(fastjet.cambridge_algorithm, _MAX_R))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        groomed = seq.exclusive_jets_softdrop_grooming(njets=1, beta=beta, symmetry_cut=z_cut, R0=r0)
    return np.nan_to_num(ak.to_numpy(groomed.msoftdrop).astype(np.float64))


def _flat_rap_phi(v: ak.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(pt, rapidity, phi, counts) of jagged four-vectors, as flat numpy arrays."""
    px, py, pz, e = (ak.to_numpy(ak.flatten(v[k])).astype(np.float64) for k in ("px", "py", "pz", "E"))
    rap = 0.5 * np.log(np.maximum(e + pz, 1e-12) / np.maximum(e - pz, 1e-12))
    return np.hypot(px, py), rap, np.arctan2(py, px), ak.to_numpy(ak.num(v))


def _scatter(values: list[np.ndarray], counts: np.ndarray, width: int, fill: float) -> list[np.ndarray]:
    """Flat per-item values -> (n_groups, width) arrays padded with `fill`."""
    row = np.repeat(np.arange(len(counts)), counts)
    slot = np.arange(len(row)) - np.repeat(np.cumsum(counts) - counts, counts)
    out = []
    for v in values:
        arr = np.full((len(counts), width), fill)
        arr[row, slot] = v
        out.append(arr)
    return out


def _distances(rap, phi, jet, arap, aphi):
    """ΔR (N, n) and signed Δφ of each particle (flat, jet index `jet`) to its jet's n axes."""
    dphi = (phi[:, None] - aphi[jet] + np.pi) % (2 * np.pi) - np.pi
    return np.hypot(rap[:, None] - arap[jet], dphi), dphi


def _minimise_axes(pt, rap, phi, jet, arap, aphi, iterations: int):
    """Lloyd/Weiszfeld passes for β = 1: move each axis to its particles' pT-weighted geometric median."""
    n_jets, n = arap.shape
    for _ in range(iterations):
        dr, dphi = _distances(rap, phi, jet, arap, aphi)
        nearest = dr.argmin(axis=1)
        pick = np.arange(len(pt))
        w = pt / np.maximum(dr[pick, nearest], 1e-6)
        key = jet * n + nearest
        sums = [np.bincount(key, x, n_jets * n).reshape(n_jets, n) for x in (w, w * rap, w * dphi[pick, nearest])]
        ok = sums[0] > 0
        safe = np.where(ok, sums[0], 1.0)
        arap = np.where(ok, sums[1] / safe, arap)
        aphi = np.where(ok, aphi + sums[2] / safe, aphi)
    return arap, aphi


def nsubjettiness(constituents: ak.Array, n_max: int = 4, beta: float = 1.0, r0: float = JET_R,
                  iterations: int = 4) -> np.ndarray:
    """τ_1..τ_{n_max} of each jet, shape (n_jets, n_max); τ_N = 0 when the jet has <= N constituents.

    Axes: exclusive-kT subjets, then (β = 1) `iterations` minimisation passes as in
    fastjet-contrib's one-pass axes (4 passes: within ~1 % of converged); the lower τ is kept.
    """
    n_jets = len(constituents)
    if n_jets == 0:
        return np.zeros((0, n_max))
    seq = fastjet.ClusterSequence(constituents, fastjet.JetDefinition(fastjet.kt_algorithm, _MAX_R))
    pt, rap, phi, counts = _flat_rap_phi(constituents)
    jet = np.repeat(np.arange(n_jets), counts)
    norm = np.bincount(jet, pt, n_jets) * r0
    out = np.zeros((n_jets, n_max))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for n in range(1, n_max + 1):
            _, arap, aphi, acounts = _flat_rap_phi(seq.exclusive_jets_up_to(n))
            (arap,) = _scatter([arap], acounts, n, 1e6)  # (J, n); padded axes lie far away
            (aphi,) = _scatter([aphi], acounts, n, 0.0)
            tau = np.bincount(jet, pt * _distances(rap, phi, jet, arap, aphi)[0].min(axis=1) ** beta, n_jets)
            if beta == 1.0 and iterations:
                arap, aphi = _minimise_axes(pt, rap, phi, jet, arap, aphi, iterations)
                tau = np.minimum(tau, np.bincount(jet, pt * _distances(rap, phi, jet, arap, aphi)[0].min(axis=1), n_jets))
            out[:, n - 1] = tau / norm
    return out

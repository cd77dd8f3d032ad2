"""A parametric CMS-like detector and particle flow, in the spirit of JetClass's Delphes card.

Numbers are those of the JetClass Delphes card (jet-universe/jetclass_generation,
delphes_card.tcl): tracking efficiency and relative pT resolution per particle type in (pT, η),
impact-parameter resolutions σ(d0), σ(dz) tabulated in (pT, |η|) from CMS (arXiv:1405.6569),
ECAL/HCAL energy resolutions and tower granularity, calorimeter thresholds, and Delphes'
energy-flow logic (towers minus the tracks pointing at them; surplus → photon / neutral hadron).

Simplifications (all cheap to lift, none matters at jet pT > 500 GeV):
- straight lines: d0, dz are computed from each charged particle's true production vertex and
  momentum direction (no helix; at the mm scale of B and D decays the 3.8 T sagitta is < 1 µm),
  relative to a primary vertex at the origin (no beam spot, no pile-up, as in JetClass);
- particles deposit in the tower their production direction points to;
- only |η| < 3 is simulated (the forward calorimeter cannot reach jets with |η| < 2, R = 0.8).

Everything works on flat arrays of one batch of events (``event`` = sorted event index).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .variations import Variation

__all__ = ["d0_resolution", "dz_resolution", "tracking_efficiency", "track_pt_resolution", "ecal_resolution",
           "hcal_resolution", "impact_parameters", "smear_impact_parameters", "simulate", "ETA_MAX"]

ETA_MAX = 3.0
HADRON, ELECTRON, MUON = 0, 1, 2

# --- σ(d0), σ(dz) [mm] in bins of pT [GeV] (lower edges; last bin open) and |η| (<=0.9, <=1.4, <=2.5)
_IP_PT_EDGES = np.array([0.1823, 0.2227, 0.2720, 0.3323, 0.4060, 0.4959, 0.6058, 0.7401, 0.9041, 1.1044, 1.3492,
                         1.6481, 2.0134, 2.4595, 3.0045, 3.6703, 4.4837, 5.4772, 6.6910, 8.1737, 9.9849, 12.1976,
                         14.9005, 18.2024, 22.2360, 27.1635, 33.1828, 40.5360, 49.5187, 60.4919, 73.8967, 90.2720,
                         110.2760, 134.7130])
_IP_ETA_EDGES = np.array([0.9, 1.4])
_D0_TABLE = np.array([
    [0.3543, 0.2809, 0.2304, 0.1917, 0.1737, 0.1434, 0.1060, 0.0893, 0.0753, 0.0670, 0.0577, 0.0524, 0.0452, 0.0376,
     0.0350, 0.0324, 0.0283, 0.0258, 0.0237, 0.0211, 0.0191, 0.0164, 0.0150, 0.0143, 0.0130, 0.0130, 0.0116, 0.0116,
     0.0110, 0.0110, 0.0110, 0.0104, 0.0109, 0.0110],
    [0.4564, 0.3580, 0.3010, 0.2353, 0.2026, 0.1595, 0.1383, 0.1119, 0.0926, 0.0816, 0.0663, 0.0553, 0.0488, 0.0431,
     0.0399, 0.0357, 0.0313, 0.0277, 0.0233, 0.0221, 0.0214, 0.0180, 0.0155, 0.0141, 0.0128, 0.0134, 0.0121, 0.0108,
     0.0101, 0.0101, 0.0101, 0.0102, 0.0088, 0.0095],
    [0.6970, 0.6046, 0.5315, 0.4306, 0.3398, 0.2788, 0.2387, 0.1814, 0.1557, 0.1230, 0.1009, 0.0914, 0.0767, 0.0638,
     0.0544, 0.0468, 0.0425, 0.0385, 0.0331, 0.0278, 0.0256, 0.0236, 0.0217, 0.0196, 0.0176, 0.0165, 0.0157, 0.0150,
     0.0144, 0.0144, 0.0137, 0.0130, 0.0137, 0.0137]])
_DZ_TABLE = np.array([
    [0.3693, 0.3135, 0.3125, 0.2578, 0.2221, 0.1936, 0.1686, 0.1351, 0.1113, 0.0983, 0.0882, 0.0786, 0.0684, 0.0615,
     0.0551, 0.0516, 0.0484, 0.0450, 0.0416, 0.0416, 0.0382, 0.0350, 0.0317, 0.0316, 0.0316, 0.0316, 0.0348, 0.0316,
     0.0316, 0.0316, 0.0284, 0.0283, 0.0315, 0.0318],
    [0.7062, 0.6010, 0.5992, 0.4959, 0.3877, 0.3199, 0.2649, 0.2518, 0.1982, 0.1587, 0.1399, 0.1199, 0.1031, 0.0967,
     0.0805, 0.0736, 0.0707, 0.0603, 0.0609, 0.0541, 0.0511, 0.0443, 0.0409, 0.0408, 0.0409, 0.0377, 0.0375, 0.0377,
     0.0342, 0.0342, 0.0343, 0.0343, 0.0309, 0.0310],
    [2.1717, 2.0715, 2.0679, 1.7679, 1.4393, 1.1997, 0.9800, 0.8251, 0.6695, 0.5545, 0.4366, 0.3711, 0.3319, 0.2721,
     0.2443, 0.2085, 0.1816, 0.1641, 0.1451, 0.1317, 0.1117, 0.1020, 0.1017, 0.0983, 0.0882, 0.0847, 0.0814, 0.0784,
     0.0817, 0.0750, 0.0816, 0.0820, 0.0814, 0.0850]])

# --- tracking efficiency per type: (|η| <= 1.5, 1.5 < |η| <= 2.5) x (0.1 < pT <= 1, above); zero elsewhere
_EFF = {HADRON: ((0.70, 0.95), (0.60, 0.85)), ELECTRON: ((0.73, 0.95), (0.50, 0.83)), MUON: ((0.75, 0.99), (0.70, 0.98))}
# --- relative track pT resolution sqrt(c^2 + (s*pT)^2) in |η| bins (<=0.5, <=1.5, <=2.5)
_PT_RES = {HADRON: ((0.06, 1.3e-3), (0.10, 1.7e-3), (0.25, 3.1e-3)),
           ELECTRON: ((0.03, 1.3e-3), (0.05, 1.7e-3), (0.15, 3.1e-3)),
           MUON: ((0.01, 1.0e-4), (0.015, 1.5e-4), (0.025, 3.5e-4))}

# --- calorimeters: tower edges, thresholds (EnergyMin, EnergySignificanceMin)
_ECAL_DETA, _ECAL_DPHI = 0.0174, np.pi / 180
_HCAL_EDGES = np.concatenate([-np.array([3.125, 2.95, 2.868, 2.65, 2.5, 2.322, 2.172, 2.043, 1.93, 1.83, 1.74]),
                              np.round(np.arange(-19, 20) * 0.087, 3),
                              [1.74, 1.83, 1.93, 2.043, 2.172, 2.322, 2.5, 2.65, 2.868, 2.95, 3.125]])
_HCAL_NPHI = np.where(np.abs(0.5 * (_HCAL_EDGES[1:] + _HCAL_EDGES[:-1])) < 1.653, 72, 36)
_ECAL_CUTS, _HCAL_CUTS = (0.5, 2.0), (1.0, 1.0)
_TRACKER_R, _TRACKER_Z = 1290.0, 3000.0  # mm: particles produced outside are not tracked


def _ip_table(table: np.ndarray, pt: np.ndarray, eta: np.ndarray) -> np.ndarray:
    ipt = np.clip(np.searchsorted(_IP_PT_EDGES, pt, side="right") - 1, 0, len(_IP_PT_EDGES) - 1)
    ieta = np.searchsorted(_IP_ETA_EDGES, np.abs(eta), side="left")
    return table[ieta, ipt]


def d0_resolution(pt: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """σ(d0) [mm] of the CMS tracker (card table; below 0.18 GeV the first bin is used)."""
    return _ip_table(_D0_TABLE, pt, eta)


def dz_resolution(pt: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """σ(dz) [mm] of the CMS tracker."""
    return _ip_table(_DZ_TABLE, pt, eta)


def tracking_efficiency(kind: np.ndarray, pt: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Probability that a charged particle of `kind` (0 hadron, 1 electron, 2 muon) is tracked."""
    out = np.zeros(len(pt))
    fwd = (np.abs(eta) > 1.5).astype(int)
    hard = (pt > 1.0).astype(int)
    for k, table in _EFF.items():
        out = np.where(kind == k, np.asarray(table)[fwd, hard], out)
    out[(pt <= 0.1) | (np.abs(eta) > 2.5)] = 0.0
    return out


def track_pt_resolution(kind: np.ndarray, pt: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Relative track pT resolution σ(pT)/pT."""
    ieta = np.searchsorted([0.5, 1.5], np.abs(eta), side="left").clip(0, 2)
    out = np.zeros(len(pt))
    for k, table in _PT_RES.items():
        c, s = np.asarray(table)[ieta].T
        out = np.where(kind == k, np.hypot(c, s * pt), out)
    return out


def ecal_resolution(e: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """σ(E) [GeV] of the ECAL: barrel × (1 + 0.64 η²), endcap × (2.16 + 5.6 (|η|-2)²), forward beyond 2.5."""
    base = np.sqrt((0.008 * e) ** 2 + 0.11**2 * e + 0.40**2)
    aeta = np.abs(eta)
    forward = np.sqrt((0.107 * e) ** 2 + 2.08**2 * e)
    return np.where(aeta <= 1.5, (1 + 0.64 * eta**2) * base,
                    np.where(aeta <= 2.5, (2.16 + 5.6 * (aeta - 2) ** 2) * base, forward))


def hcal_resolution(e: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """σ(E) [GeV] of the HCAL (|η| <= 3)."""
    return np.sqrt((0.050 * e) ** 2 + 1.50**2 * e)


def impact_parameters(px, py, pz, vx, vy, vz) -> tuple[np.ndarray, np.ndarray]:
    """True (d0, dz) [mm] of straight tracks from production vertex (vx, vy, vz) [mm].

    d0 = (x p_y - y p_x) / pT is the signed transverse distance of closest approach to the beam
    line; dz is the track's z at that point.
    """
    pt = np.hypot(px, py)
    d0 = (vx * py - vy * px) / pt
    dz = vz - (vx * px + vy * py) / pt * (pz / pt)
    return d0, dz


def smear_impact_parameters(pt, eta, d0, dz, variation: Variation, rng: np.random.Generator):
    """Measured d0, dz with their stored errors.

    d0 is smeared with width (1 + f(pT, η)) σ(d0) and, with ``smear_dz``, dz likewise; otherwise
    dz keeps its nominal width. The stored errors are the widths used (Delphes'
    ``TrackSmearing``), or the nominal σ when ``ip_update_errors`` is off.
    """
    s_d0, s_dz = d0_resolution(pt, eta), dz_resolution(pt, eta)
    factor = variation.ip_factor(pt, eta)
    f_dz = factor if variation.smear_dz else np.ones_like(factor)
    z = rng.standard_normal((2, len(pt)))
    d0m, dzm = d0 + factor * s_d0 * z[0], dz + f_dz * s_dz * z[1]
    if variation.ip_update_errors:
        s_d0, s_dz = factor * s_d0, f_dz * s_dz
    return d0m, s_d0, dzm, s_dz


def _lognormal(mean: np.ndarray, sigma: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Positive smearing with the given mean and standard deviation (Delphes' LogNormal)."""
    z = rng.standard_normal(len(mean))
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.sqrt(np.log1p((sigma / mean) ** 2))
        out = np.exp(np.log(mean) - 0.5 * b**2 + b * z)
    return np.where(mean > 0, out, 0.0)


def _kinds(pid: np.ndarray) -> np.ndarray:
    apid = np.abs(pid)
    return np.where(apid == 11, ELECTRON, np.where(apid == 13, MUON, HADRON))


def _fractions(pid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ECAL, HCAL) energy fractions per particle (card's EnergyFraction maps)."""
    apid = np.abs(pid)
    em = (apid == 11) | (apid == 22) | (apid == 111)
    long_lived = (apid == 310) | (apid == 3122)
    invisible = (apid == 12) | (apid == 13) | (apid == 14) | (apid == 16)
    fe = np.where(em, 1.0, np.where(long_lived, 0.3, 0.0))
    fh = np.where(em | invisible, 0.0, np.where(long_lived, 0.7, 1.0))
    return fe, fh


def _tracks(p: Mapping[str, np.ndarray], variation: Variation, rng: np.random.Generator):
    """Tracking: efficiency, pT smearing (massless, as Delphes), impact parameters."""
    pt = np.hypot(p["px"], p["py"])
    kind = _kinds(p["pid"])
    inside = (np.hypot(p["vx"], p["vy"]) < _TRACKER_R) & (np.abs(p["vz"]) < _TRACKER_Z)
    eff = np.minimum(tracking_efficiency(kind, pt, p["eta"]) * variation.track_eff_scale, 1.0)
    tracked = (p["charge"] != 0) & inside & (rng.random(len(pt)) < eff)
    idx = np.flatnonzero(tracked)
    res = track_pt_resolution(kind[idx], pt[idx], p["eta"][idx]) * variation.track_pt_res_scale
    scale = _lognormal(pt[idx], res * pt[idx], rng) / pt[idx]
    px, py, pz = (p[k][idx] * scale for k in ("px", "py", "pz"))
    d0, dz = impact_parameters(p["px"][idx], p["py"][idx], p["pz"][idx], p["vx"][idx], p["vy"][idx], p["vz"][idx])
    d0m, d0e, dzm, dze = smear_impact_parameters(pt[idx] * scale, p["eta"][idx], d0, dz, variation, rng)
    energy = np.sqrt(px**2 + py**2 + pz**2)
    trk = {"event": p["event"][idx], "px": px, "py": py, "pz": pz, "energy": energy, "pid": p["pid"][idx],
           "charge": p["charge"][idx], "d0": d0m, "d0err": d0e, "dz": dzm, "dzerr": dze, "sigma_e": res * energy}
    return tracked, trk


def _tower_ids(eta: np.ndarray, phi: np.ndarray, ecal: bool):
    """Tower index and (eta_lo, eta_hi, phi_lo, dphi) of each deposit."""
    if ecal:
        ieta = np.floor(eta / _ECAL_DETA).astype(np.int64)
        lo, hi, dphi = ieta * _ECAL_DETA, (ieta + 1) * _ECAL_DETA, np.full(len(eta), _ECAL_DPHI)
    else:
        ieta = np.clip(np.searchsorted(_HCAL_EDGES, eta, side="right") - 1, 0, len(_HCAL_NPHI) - 1)
        lo, hi, dphi = _HCAL_EDGES[ieta], _HCAL_EDGES[ieta + 1], 2 * np.pi / _HCAL_NPHI[ieta]
    iphi = np.floor((phi + np.pi) / dphi).astype(np.int64)
    return (ieta + 1024) * 1024 + iphi, lo, hi, iphi * dphi - np.pi, dphi


def _calorimeter(ev, eta, phi, dep, trk_e, trk_s2, ecal: bool, scale: float, rng: np.random.Generator):
    """One calorimeter's energy flow. Returns (neutral candidates, per-deposit track rescale factor)."""
    tower, lo, hi, phi_lo, dphi = _tower_ids(eta, phi, ecal)
    key = ev.astype(np.int64) * (1 << 22) + tower
    uniq, first, inv = np.unique(key, return_index=True, return_inverse=True)
    e_true, e_trk, s2_trk = (np.bincount(inv, w, len(uniq)) for w in (dep, trk_e, trk_s2))
    eta_c = 0.5 * (lo[first] + hi[first])
    sigma = scale * (ecal_resolution(e_true, eta_c) if ecal else hcal_resolution(e_true, eta_c))
    e_min, sig_min = _ECAL_CUTS if ecal else _HCAL_CUTS
    e_meas = _lognormal(e_true, sigma, rng)
    e_meas[(e_meas < e_min) | (e_meas < sig_min * sigma)] = 0.0
    neutral = np.maximum(e_meas - e_trk, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        significance = neutral / np.sqrt(s2_trk + sigma**2)
        keep = (neutral > e_min) & (significance > sig_min)
        # no significant surplus: combine the track and calorimeter measurements (Delphes)
        w_trk = np.where(s2_trk > 0, 1 / s2_trk, 0.0)
        w_cal = np.where((e_meas > 0) & (sigma > 0), 1 / sigma**2, 0.0)
        best = (w_trk * e_trk + w_cal * e_meas) / (w_trk + w_cal)
        rescale = np.where(~keep & (e_trk > 0), best / e_trk, 1.0)
    u = rng.random((2, len(uniq)))
    c_eta = lo[first] + u[0] * (hi[first] - lo[first])  # tower centre smeared over the tower
    c_phi = phi_lo[first] + u[1] * dphi[first]
    k = np.flatnonzero(keep)
    pt = neutral[k] / np.cosh(c_eta[k])
    cands = {"event": (uniq[k] >> 22), "px": pt * np.cos(c_phi[k]), "py": pt * np.sin(c_phi[k]),
             "pz": pt * np.sinh(c_eta[k]), "energy": neutral[k], "pid": np.full(len(k), 22 if ecal else 0)}
    return cands, rescale[inv]


def simulate(p: Mapping[str, np.ndarray], variation: Variation, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Particle-flow candidates of a batch of events.

    Arguments:
        p: flat arrays of visible final-state particles sorted by ``event``: event, pid, charge,
            px, py, pz, energy, eta, phi, vx, vy, vz (GeV, mm).
    Returns:
        flat arrays sorted by event: event, px, py, pz, energy, pid (true PID for tracks, 22 for
        photons, 0 for neutral hadrons), charge, d0, d0err, dz, dzerr.
    """
    tracked, trk = _tracks(p, variation, rng)
    fe, fh = _fractions(p["pid"])
    fe, fh = fe * p["energy"], fh * p["energy"]
    track_e = np.zeros(len(tracked))
    track_s2 = np.zeros(len(tracked))
    track_e[tracked], track_s2[tracked] = trk["energy"], trk["sigma_e"] ** 2
    is_e = tracked & (_kinds(p["pid"]) == ELECTRON)
    is_h = tracked & (_kinds(p["pid"]) == HADRON)
    out, rescale = [], np.ones(len(tracked))
    for ecal, dep, own in ((True, fe, is_e), (False, fh, is_h)):
        sel = np.flatnonzero((dep > 0) | own)
        cands, r = _calorimeter(p["event"][sel], p["eta"][sel], p["phi"][sel], dep[sel], np.where(own[sel], track_e[sel], 0),
                                np.where(own[sel], track_s2[sel], 0), ecal, variation.calo_res_scale, rng)
        rescale[sel[own[sel]]] = r[own[sel]]
        out.append(cands)
    r = rescale[tracked]
    for k in ("px", "py", "pz", "energy"):
        trk[k] = trk[k] * r
    cols = ("event", "px", "py", "pz", "energy", "pid", "charge", "d0", "d0err", "dz", "dzerr")
    merged = {k: np.concatenate([trk[k]] + [c.get(k, np.zeros(len(c["event"]))) for c in out]) for k in cols}
    order = np.argsort(merged["event"], kind="stable")
    return {k: v[order] for k, v in merged.items()}

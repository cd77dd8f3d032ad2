"""One shard of jets: Pythia 8 events → detector → anti-kT jets → truth match → JetClass branches.

``generate_jets`` is a pure function of (process, variation, n_jets, seed, max_batch): Pythia is
seeded from `seed`, the detector draws from its own generator seeded from `seed`, and the event
batches have sizes that depend only on counts, so reruns give identical arrays.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from ..errors import MindgapError
from ..util.versions import package_versions
from . import detector, jets as jetlib, truth
from ..jetclass.io import write_jets
from .processes import COMMON_SETTINGS, Process, get_process
from ..jetclass.schema import AUX_BRANCHES, JET_BRANCHES, PARTICLE_BRANCHES
from .variations import Variation, get_variation

__all__ = ["GenerationError", "generate_jets", "generate_shard", "check_writable", "pythia_settings",
           "PT_RANGE", "ETA_MAX"]

PT_RANGE = (500.0, 1000.0)  # GeV, kept jet window
ETA_MAX = 2.0
_NEUTRINOS = (12, 14, 16)
_PYTHIA_SEED_MAX = 900_000_000


class GenerationError(MindgapError, ValueError):
    """Bad generation request: n_jets <= 0, negative seed, unwritable output, or no jets accepted."""


def _pythia_seed(seed: int, variant: int) -> int:
    state = np.random.SeedSequence([seed, variant, 0x5EED]).generate_state(1, np.uint64)[0]
    return 1 + int(state % (_PYTHIA_SEED_MAX - 1))  # 0 would mean "seed from the clock"


def pythia_settings(process: str | Process, variation: str | Variation, seed: int, variant: int = 0) -> list[str]:
    """Every ``readString`` line of one Pythia instance (stored in each file's metadata)."""
    proc, var = get_process(process), get_variation(variation)
    return [*COMMON_SETTINGS, *proc.pythia_settings(variant), *var.pythia_settings(),
            "Random:setSeed = on", f"Random:seed = {_pythia_seed(seed, variant)}"]


def _make_pythia(lines: list[str]):
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in lines:
        if not pythia.readString(line):
            raise GenerationError(f"Pythia rejected setting {line!r}")
    if not pythia.init():
        raise GenerationError("Pythia initialisation failed for settings: " + "; ".join(lines))
    return pythia


class _Charges:
    """Electric charge per PDG id from Pythia's particle table, vectorised with a dense cache."""

    def __init__(self, particle_data, size: int = 4000):
        self._pd = particle_data
        self._table = np.array([particle_data.chargeType(i) / 3.0 if particle_data.isParticle(i) else 0.0
                                for i in range(size)])

    def __call__(self, pid: np.ndarray) -> np.ndarray:
        apid = np.abs(pid)
        small = apid < len(self._table)
        out = np.sign(pid) * self._table[np.where(small, apid, 0)]
        for big in np.unique(pid[~small]):  # rare exotic ids
            out[pid == big] = self._pd.chargeType(int(big)) / 3.0
        return out


def _visible(prt: ak.Array, charges: _Charges) -> dict[str, np.ndarray]:
    """Flat visible final-state particles (status > 0, no neutrinos, |η| < 3) of a batch."""
    counts = ak.to_numpy(ak.num(prt))
    col = lambda x: ak.to_numpy(ak.flatten(x))  # noqa: E731
    pid, status = col(prt.id), col(prt.status)
    px, py, pz, e = col(prt.p.px), col(prt.p.py), col(prt.p.pz), col(prt.p.e)
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.arcsinh(pz / pt)
    keep = (status > 0) & ~np.isin(np.abs(pid), _NEUTRINOS) & (pt > 0) & (np.abs(eta) < detector.ETA_MAX)
    idx = np.flatnonzero(keep)
    out = {"event": np.repeat(np.arange(len(counts)), counts)[idx], "pid": pid[idx], "px": px[idx], "py": py[idx],
           "pz": pz[idx], "energy": e[idx], "eta": eta[idx], "phi": np.arctan2(py[idx], px[idx])}
    out.update(_vertices(prt, idx))
    out["charge"] = charges(out["pid"])
    return out


def _vertices(prt: ak.Array, idx: np.ndarray) -> dict[str, np.ndarray]:
    """Production vertices [mm] of the flat particles `idx` (vProd's px, py, pz hold x, y, z; a
    missing vertex means the origin)."""
    vertex = ak.flatten(prt.vProd)
    layout = vertex.layout
    if isinstance(layout, ak.contents.IndexedOptionArray):  # fast path: what pythia8mc returns
        where = np.asarray(layout.index)[idx]
        content = layout.content
        return {"v" + a[1]: np.where(where >= 0, np.asarray(content[a].data)[np.maximum(where, 0)], 0.0)
                for a in ("px", "py", "pz")}
    return {"v" + a[1]: ak.to_numpy(ak.fill_none(vertex[a], 0.0))[idx] for a in ("px", "py", "pz")}


def _jet_features(cands: dict[str, np.ndarray], ncand: np.ndarray, jets: ak.Array, cidx: ak.Array,
                  sel: np.ndarray, jet_event: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Particle and jet branches of the selected jets; returns (flat columns, constituents per jet)."""
    flat_jets = ak.flatten(jets)[sel]
    counts = ak.to_numpy(ak.num(ak.flatten(cidx, axis=1)[sel]))
    local = ak.to_numpy(ak.flatten(ak.flatten(cidx, axis=1)[sel]))
    first = np.concatenate([[0], np.cumsum(ncand)])[:-1]
    jet_id = np.repeat(np.arange(len(counts)), counts)
    g = first[np.repeat(jet_event[sel], counts)] + local
    pt = np.hypot(cands["px"][g], cands["py"][g])
    order = np.lexsort((-pt, jet_id))  # by jet, then pT descending (as makeNtuples)
    g, pt = g[order], pt[order]
    jpx, jpy, jpz, je = (ak.to_numpy(flat_jets[k]).astype(np.float64) for k in ("px", "py", "pz", "E"))
    jpt = np.hypot(jpx, jpy)
    jeta, jphi = np.arcsinh(jpz / jpt), np.arctan2(jpy, jpx)
    eta = np.arcsinh(cands["pz"][g] / pt)
    phi = np.arctan2(cands["py"][g], cands["px"][g])
    rep = lambda x: np.repeat(x, counts)  # noqa: E731
    apid = np.abs(cands["pid"][g])
    cols = {"part_px": cands["px"][g], "part_py": cands["py"][g], "part_pz": cands["pz"][g],
            "part_energy": cands["energy"][g], "part_deta": np.where(rep(jeta) > 0, 1.0, -1.0) * (eta - rep(jeta)),
            "part_dphi": truth.delta_phi(phi, rep(jphi)), "part_d0val": cands["d0"][g], "part_d0err": cands["d0err"][g],
            "part_dzval": cands["dz"][g], "part_dzerr": cands["dzerr"][g], "part_charge": cands["charge"][g],
            "part_isChargedHadron": np.isin(apid, (211, 321, 2212)), "part_isNeutralHadron": apid == 0,
            "part_isPhoton": apid == 22, "part_isElectron": apid == 11, "part_isMuon": apid == 13}
    consts = jetlib.four_vectors(cols["part_px"], cols["part_py"], cols["part_pz"], cols["part_energy"], counts)
    taus = jetlib.nsubjettiness(consts)
    cols.update({"jet_pt": jpt, "jet_eta": jeta, "jet_phi": jphi, "jet_energy": je, "jet_nparticles": counts,
                 "jet_sdmass": jetlib.softdrop_mass(consts), **{f"jet_tau{i + 1}": taus[:, i] for i in range(4)}})
    return cols, counts


def _batch(prt: ak.Array, proc: Process, var: Variation, rng, charges: _Charges):
    """Kept jets of one batch of events: (flat columns, constituent counts)."""
    p = _visible(prt, charges)
    cands = detector.simulate(p, var, rng)
    ncand = np.bincount(cands["event"], minlength=len(prt))
    events = jetlib.four_vectors(cands["px"], cands["py"], cands["pz"], cands["energy"], ncand)
    jets, cidx = jetlib.cluster(events, min_pt=PT_RANGE[0])
    jet_event = np.repeat(np.arange(len(prt)), ak.to_numpy(ak.num(jets)))
    fj = ak.flatten(jets)
    jpx, jpy, jpz = (ak.to_numpy(fj[k]).astype(np.float64) for k in ("px", "py", "pz"))
    jpt = np.hypot(jpx, jpy)
    jeta = np.arcsinh(jpz / np.maximum(jpt, 1e-9))
    window = (jpt > PT_RANGE[0]) & (jpt < PT_RANGE[1]) & (np.abs(jeta) < ETA_MAX)
    table = truth.decay_table(prt, proc.resonance) if proc.resonance else None
    code, row = truth.match_jets(jet_event, jeta, np.arctan2(jpy, jpx), table, proc.resonance)
    sel = np.flatnonzero(window & np.isin(code, proc.codes))
    cols, counts = _jet_features(cands, ncand, jets, cidx, sel, jet_event)
    code, row = code[sel], row[sel]
    cols.update(truth.labels(code))
    has = row >= 0
    r = np.where(has, row, 0)
    for k in ("pt", "eta", "phi", "pid"):
        cols[f"aux_genpart_{k}"] = np.where(has, getattr(table, k)[r], 0.0) if table is not None else np.zeros(len(sel))
    cols["aux_truth_match"] = code
    dtypes = {**PARTICLE_BRANCHES, **JET_BRANCHES, **AUX_BRANCHES}
    return {k: v.astype(dtypes.get(k, v.dtype), copy=False) for k, v in cols.items()}, counts


def _finalise(parts: list[tuple[dict, np.ndarray]], n_jets: int) -> dict[str, Any]:
    """Concatenate batches (already in the JetClass dtypes) and keep the first `n_jets` jets."""
    counts = np.concatenate([c for _, c in parts])[:n_jets]
    n_flat = int(counts.sum())
    out: dict[str, Any] = {}
    for name in parts[0][0]:
        flat = np.concatenate([cols[name] for cols, _ in parts])
        out[name] = ak.unflatten(flat[:n_flat], counts) if name in PARTICLE_BRANCHES else flat[:n_jets]
    return out


def generate_jets(process: str | Process, variation: str | Variation = "nominal", n_jets: int = 1000, seed: int = 0,
                  *, max_batch: int = 200, progress: bool = False, log: bool = False):
    """Generate `n_jets` JetClass jets of one class: a dict branch -> array (jagged for ``part_*``).

    Arguments:
        process: a JetClass class name (``schema.CLASSES``) or a :class:`Process`.
        variation: a preset name, a :class:`Variation` or a dict of its knobs.
        n_jets: jets to keep (> 0); seed: any integer >= 0.
        max_batch: largest number of Pythia events per batch (part of the reproducibility key).
        log: also return a dict with the events generated, time spent and the settings.
    """
    proc, var = get_process(process), get_variation(variation)
    if not isinstance(n_jets, (int, np.integer)) or isinstance(n_jets, bool) or n_jets <= 0:
        raise GenerationError(f"n_jets must be a positive integer, got {n_jets!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise GenerationError(f"seed must be an integer >= 0, got {seed!r}")
    t0 = time.perf_counter()
    settings = [pythia_settings(proc, var, int(seed), v) for v in range(proc.n_variants)]
    pythias = [_make_pythia(lines) for lines in settings]
    charges = _Charges(pythias[0].particleData)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xDE7EC7]))
    parts, n_kept, n_events, k = [], 0, 0, 0
    max_events = 100 * n_jets + 5000
    bar = _progress(progress, n_jets, f"{proc.name}/{var.name}")
    while n_kept < n_jets:
        acc = n_kept / n_events if n_kept else 0.5  # jets per event so far: sizes depend on counts only
        size = int(min(max_batch, max(8, math.ceil(1.1 * (n_jets - n_kept) / max(acc, 0.02)))))
        events = pythias[k % len(pythias)].nextBatch(size, errorMode="skip")
        k += 1
        n_events += size
        if len(events):
            cols, counts = _batch(events.prt, proc, var, rng, charges)
            parts.append((cols, counts))
            n_kept += len(counts)
            bar.update(min(len(counts), n_jets - bar.n))
        if n_events >= max_events and n_kept < n_jets:
            raise GenerationError(f"{proc.name}/{var.name}: only {n_kept} of {n_jets} jets after {n_events} events")
    bar.close()
    out = _finalise(parts, n_jets)
    if not log:
        return out
    return out, {"events": n_events, "jets_accepted": n_kept, "seconds": time.perf_counter() - t0,
                 "pythia_settings": settings, "max_batch": max_batch}


def _progress(enabled: bool, total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="jet", disable=not enabled, leave=False)


def check_writable(out: str | os.PathLike) -> Path:
    """Fail early (before minutes of generation) if `out` cannot be written."""
    out = Path(out)
    if out.suffix != ".root":
        raise GenerationError(f"output {out}: expected a .root file name")
    if out.is_dir():
        raise GenerationError(f"output {out}: is a directory")
    probe = out.with_name(f".{out.name}.probe")
    try:  # create the folder and a scratch file: the only reliable test (permissions, read-only mounts)
        out.parent.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise GenerationError(f"output {out}: folder {out.parent} is not writable ({err.strerror or err})") from None
    return out


def generate_shard(process: str | Process, variation: str | Variation, n_jets: int, seed: int,
                   out: str | os.PathLike, *, max_batch: int = 200, progress: bool = False,
                   extra_metadata: dict | None = None) -> Path:
    """Generate one shard and write it atomically to `out` (metadata: config, seed, versions)."""
    proc, var = get_process(process), get_variation(variation)  # a bad name fails before any folder is made
    out = check_writable(out)
    jets, info = generate_jets(proc, var, n_jets, seed, max_batch=max_batch, progress=progress, log=True)
    meta = {"process": proc.name, "variation": var.to_dict(), "n_jets": int(n_jets), "seed": int(seed),
            "generator": {**info, "pt_range": PT_RANGE, "eta_max": ETA_MAX}, "versions": package_versions(),
            **(extra_metadata or {})}
    return write_jets(out, jets, meta)

"""Truth matching and labels, following makeNtuples.C's FatJetMatching and postprocessing/rename.py.

A signal jet is kept only when all the decay products of its resonance lie within ΔR < 0.8 of
the jet axis: both quarks (or gluons) of H/W/Z→qq̄, the b and both W quarks of t→bqq′, the b and
the charged lepton of t→bℓν, at least four quarks for H→WW*→4q, exactly two quarks and one
lepton for H→WW*→ℓνqq′. Quarks are taken as they leave the decay (before showering), charged
leptons in their final (post-QED-radiation) copy, as in FatJetMatching. The codes are
FatJetMatching's (stored as ``aux_truth_match``); the labels are rename.py's sums of code tests.

Everything is vectorised over a batch of events with flat numpy arrays: the few resonances per
event are found as the mothers of decay products, never by looping over particles.
"""

from __future__ import annotations

from dataclasses import dataclass

import awkward as ak
import numpy as np

from ..jetclass.schema import LABEL_BRANCHES

__all__ = ["DecayTable", "decay_table", "match_jets", "labels", "QCD_CODE", "delta_phi"]

QCD_CODE = 50  # FatJetMatching::QCD_all
_LABEL_CODES = {"label_Tbqq": (11, 12), "label_Tbl": (15, 16), "label_Wqq": (21, 22), "label_Zqq": (31, 32, 33),
                "label_Hbb": (41,), "label_Hcc": (42,), "label_Hgg": (44,), "label_H4q": (45,), "label_Hqql": (46,)}
_NQ, _NL = 4, 2  # padded slots: quarks (or gluons) and charged leptons per resonance


def delta_phi(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a - b + np.pi) % (2 * np.pi) - np.pi


@dataclass
class DecayTable:
    """The resonances of one kind in a batch, with the directions of their decay products.

    One row per resonance (its last copy, in event-record order): event, pid, pt/eta/phi, and
    padded (NaN) eta/phi/|pid| of its quarks (`q_*`, up to 4, including W daughters), its direct
    b (`b_*`, tops only) and its charged leptons (`l_*`, e/μ, final copies).
    """

    event: np.ndarray
    pid: np.ndarray
    pt: np.ndarray
    eta: np.ndarray
    phi: np.ndarray
    q_eta: np.ndarray
    q_phi: np.ndarray
    q_pid: np.ndarray
    b_eta: np.ndarray
    b_phi: np.ndarray
    l_eta: np.ndarray
    l_phi: np.ndarray
    l_pid: np.ndarray


def _kinematics(px, py, pz):
    pt = np.hypot(px, py)
    return pt, np.arcsinh(pz / np.where(pt > 0, pt, 1e-12)), np.arctan2(py, px)


def _last_copy(idx: np.ndarray, ids, d1, d2) -> np.ndarray:
    """Follow each particle down its chain of same-id daughters (FatJetMatching's getFinal)."""
    idx = idx.copy()
    for _ in range(200):
        a, b = d1[idx], d2[idx]
        step = np.where((a > 0) & (ids[a] == ids[idx]), a, np.where((b > 0) & (ids[b] == ids[idx]), b, -1))
        if not np.any(step >= 0):
            break
        idx = np.where(step >= 0, step, idx)
    return idx


def _pad(row: np.ndarray, values: list[np.ndarray], n_rows: int, width: int) -> list[np.ndarray]:
    """Scatter per-product values into (n_rows, width) arrays, in record order within each row."""
    order = np.argsort(row, kind="stable")
    row = row[order]
    starts = np.searchsorted(row, np.arange(n_rows))
    slot = np.arange(len(row)) - starts[row]
    ok = slot < width
    out = []
    for v in values:
        arr = np.full((n_rows, width), np.nan)
        arr[row[ok], slot[ok]] = v[order][ok]
        out.append(arr)
    return out


def decay_table(prt: ak.Array, resonance: int) -> DecayTable:
    """Find the `resonance` (|PDG id| 6, 23, 24 or 25) decays in a batch of Pythia event records."""
    counts = ak.to_numpy(ak.num(prt))
    offsets = np.concatenate([[0], np.cumsum(counts)])[:-1]
    event = np.repeat(np.arange(len(counts)), counts)
    flat = {k: ak.to_numpy(ak.flatten(prt[k])) for k in ("id", "mother1", "daughter1", "daughter2")}
    ids = flat["id"]
    shift = offsets[event]
    m1 = np.where(flat["mother1"] > 0, flat["mother1"] + shift, 0)
    d1 = np.where(flat["daughter1"] > 0, flat["daughter1"] + shift, 0)
    d2 = np.where(flat["daughter2"] > 0, flat["daughter2"] + shift, 0)
    p = {k: ak.to_numpy(ak.flatten(prt.p[k])) for k in ("px", "py", "pz")}

    amother = np.abs(ids[m1])
    is_child = (flat["mother1"] > 0) & ((amother == resonance) | (amother == 24)) & (ids != ids[m1])
    child = np.flatnonzero(is_child)
    rows = np.unique(m1[child][np.abs(ids[m1[child]]) == resonance])
    direct = child[np.isin(m1[child], rows)]
    # W bosons from top or Higgs decays: their decay products hang under the W's last copy
    w_first = direct[np.abs(ids[direct]) == 24]
    w_last = _last_copy(w_first, ids, d1, d2)
    grand = child[np.isin(m1[child], w_last)]
    products = np.concatenate([direct, grand])
    # row of each product: its mother is a row, or a W whose first copy hangs under a row
    keys = np.concatenate([rows, w_last])
    vals = np.concatenate([np.arange(len(rows)), np.searchsorted(rows, m1[w_first])])
    order = np.argsort(keys, kind="stable")
    prow = vals[order][np.searchsorted(keys[order], m1[products])]
    apid = np.abs(ids[products])
    via_w = np.concatenate([np.zeros(len(direct), bool), np.ones(len(grand), bool)])

    is_q = (apid <= 5) | ((apid == 21) & ~via_w)
    if resonance == 6:  # the top's own b is kept apart from the W's quarks
        is_b, is_q = (apid <= 5) & ~via_w, is_q & via_w
    else:
        is_b = np.zeros(len(products), bool)
    is_l = (apid == 11) | (apid == 13)
    lep = _last_copy(products[is_l], ids, d1, d2)
    _, q_eta, q_phi = _kinematics(p["px"][products[is_q]], p["py"][products[is_q]], p["pz"][products[is_q]])
    _, b_eta, b_phi = _kinematics(p["px"][products[is_b]], p["py"][products[is_b]], p["pz"][products[is_b]])
    _, l_eta, l_phi = _kinematics(p["px"][lep], p["py"][lep], p["pz"][lep])
    n = len(rows)
    q = _pad(prow[is_q], [q_eta, q_phi, apid[is_q].astype(float)], n, _NQ)
    b = _pad(prow[is_b], [b_eta, b_phi], n, 1)
    lp = _pad(prow[is_l], [l_eta, l_phi, apid[is_l].astype(float)], n, _NL)
    pt, eta, phi = _kinematics(p["px"][rows], p["py"][rows], p["pz"][rows])
    return DecayTable(event[rows], ids[rows], pt, eta, phi, *q, b[0][:, 0], b[1][:, 0], *lp)


def _codes(t: DecayTable, r: np.ndarray, q_in: np.ndarray, b_in: np.ndarray, l_in: np.ndarray, resonance: int) -> np.ndarray:
    """FatJetMatching signal code of each (jet, resonance row) pair; 0 when not fully contained."""
    qpid = t.q_pid[r]
    nq, nl = np.sum(~np.isnan(qpid), axis=1), np.sum(~np.isnan(t.l_pid[r]), axis=1)
    nq_in, nl_in = q_in.sum(axis=1), l_in.sum(axis=1)
    two_q = (nq == 2) & (nq_in == 2)
    heavy = np.nanmax(np.where(np.isnan(qpid), 0, qpid), axis=1) >= 4
    flav = np.where(np.isnan(qpid), 0, qpid)[:, :2]
    both = lambda f: (flav[:, 0] == f) & (flav[:, 1] == f)  # noqa: E731
    code = np.zeros(len(r), dtype=np.int64)
    if resonance == 6:
        lpid = t.l_pid[r][:, 0]
        code = np.where(b_in & two_q, np.where(heavy, 11, 12), code)
        code = np.where(b_in & (nq == 0) & (nl == 1) & (nl_in == 1), np.where(lpid == 11, 15, 16), code)
    elif resonance == 24:
        code = np.where(two_q, np.where(heavy, 21, 22), code)
    elif resonance == 23:
        code = np.where(two_q, np.where(both(5), 31, np.where(both(4), 32, 33)), code)
    elif resonance == 25:
        hvv = (nq > 2) | (nl > 0)
        code = np.where(~hvv & two_q, np.where(both(5), 41, np.where(both(4), 42, np.where(both(21), 44, 43))), code)
        code = np.where(hvv & (nq_in >= 4), 45, np.where(hvv & (nq_in == 2) & (nl_in == 1), 46, code))
    return code


def match_jets(jet_event: np.ndarray, jet_eta: np.ndarray, jet_phi: np.ndarray, table: DecayTable | None,
               resonance: int, radius: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """(code, row) per jet: the first resonance (record order) fully inside the jet, else (0, -1).

    With ``resonance == 0`` (the QCD sample) every jet gets code 50 (QCD_all) and row -1.
    """
    n = len(jet_event)
    if resonance == 0:
        return np.full(n, QCD_CODE, dtype=np.int64), np.full(n, -1, dtype=np.int64)
    if table is None:
        raise ValueError(f"match_jets: resonance {resonance} needs a DecayTable")
    first = np.searchsorted(table.event, jet_event, side="left")
    n_rows = np.searchsorted(table.event, jet_event, side="right") - first
    jet = np.repeat(np.arange(n), n_rows)
    r = np.repeat(first, n_rows) + (np.arange(len(jet)) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows))

    def inside(eta, phi):
        with np.errstate(invalid="ignore"):
            return np.hypot(eta - jet_eta[jet, None], delta_phi(phi, jet_phi[jet, None])) < radius

    q_in = inside(table.q_eta[r], table.q_phi[r])  # NaN padding compares False
    b_in = inside(table.b_eta[r, None], table.b_phi[r, None])[:, 0]
    l_in = inside(table.l_eta[r], table.l_phi[r])
    code = _codes(table, r, q_in, b_in, l_in, resonance)
    out_code, out_row = np.zeros(n, dtype=np.int64), np.full(n, -1, dtype=np.int64)
    hit = np.flatnonzero(code > 0)[::-1]  # reversed so that the first row in record order wins
    out_code[jet[hit]], out_row[jet[hit]] = code[hit], r[hit]
    return out_code, out_row


def labels(codes: np.ndarray) -> dict[str, np.ndarray]:
    """The ten label branches from FatJetMatching codes, with rename.py's dtypes."""
    codes = np.asarray(codes)
    out = {}
    signal = np.zeros(len(codes), dtype=bool)
    for name, values in _LABEL_CODES.items():
        hit = np.isin(codes, values)
        signal |= hit
        out[name] = hit.astype(LABEL_BRANCHES[name])
    out["label_QCD"] = (1 - signal).astype(LABEL_BRANCHES["label_QCD"])
    return {name: out[name] for name in LABEL_BRANCHES}

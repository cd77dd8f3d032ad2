"""Uncertainties of a calibration: maps per variation, a bootstrap ensemble, bands and scale factors.

A calibration is published with its uncertainties. Two kinds are propagated here to the tagger's
physics discriminants:

* **systematic**: one map per alternative target (``target``, ``ip_only``, ``scale_only``: which
  detector or physics effect the data-like sample carries); the spread of the calibrated results
  over those maps;
* **statistical**: a bootstrap ensemble, each map refitted on the fit rows resampled with
  replacement; its spread shrinks as 1/√N (and carries the solver's own run-to-run scatter).

Both end in per-bin bands of the calibrated LLR histograms and in a scale-factor table as a
tagging calibration publishes it: the efficiency of a cut on log p_Hbb/p_QCD in the data-like
target over that in the calibrated simulation, at cuts set to fixed target efficiencies.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..util.parallel import side_by_side
from ..util.seeds import derive_seed
from .closure import LLRS, common_edges, physics_llrs, weighted_hist
from .config import EvaluateError

__all__ = ["bootstrap_rows", "bootstrap_samples", "bootstrap_maps", "map_spread", "llr_bands", "efficiency",
           "cuts_at_efficiencies", "scale_factors"]


def bootstrap_rows(n: int, n_boot: int, seed: int) -> list[np.ndarray]:
    """`n_boot` resamples (with replacement) of `n` rows, each from its own derived seed."""
    return [np.random.default_rng(derive_seed(seed, "bootstrap", k)).integers(0, n, n) for k in range(n_boot)]


def _refit(fit_fn: Callable[..., Any], source: np.ndarray, target: np.ndarray, seed: int) -> Any:
    return fit_fn(source, target, seed)


def bootstrap_samples(source: np.ndarray, target: np.ndarray, n_boot: int,
                      seed: int) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """`n_boot` (resampled source, resampled target, fit seed) triples: the inputs of the bootstrap refits."""
    if n_boot < 2:
        raise EvaluateError(f"bootstrap: n_boot must be >= 2 for a spread, got {n_boot}")
    rs = bootstrap_rows(len(source), n_boot, derive_seed(seed, "source"))
    rt = bootstrap_rows(len(target), n_boot, derive_seed(seed, "target"))
    return [(source[i], target[j], derive_seed(seed, "refit", k)) for k, (i, j) in enumerate(zip(rs, rt))]


def bootstrap_maps(fit_fn: Callable[[np.ndarray, np.ndarray, int], Any], source: np.ndarray, target: np.ndarray,
                   n_boot: int = 5, seed: int = 0, workers: int = 1) -> list[Any]:
    """Refit `n_boot` maps, each on both samples resampled with replacement.

    Arguments:
        fit_fn: ``fit_fn(source, target, seed) -> map`` (a module-level function or a
            ``functools.partial`` of one, so that it pickles for `workers` > 1).
        source, target: the fit rows (n, d) and (m, d).
    """
    calls = [((fit_fn, *triple), {}) for triple in bootstrap_samples(source, target, n_boot, seed)]
    return side_by_side(_refit, calls, workers)


def map_spread(maps: Sequence[Any], x: np.ndarray) -> float:
    """RMS over the points x of the spread (std over `maps`) of T(x): one number for an ensemble."""
    moved = np.stack([np.asarray(m.transport(x), np.float64) for m in maps])  # (M, n, d)
    return float(np.sqrt(moved.var(0, ddof=1).sum(-1).mean()))


def _densities(logits: np.ndarray, edges: Mapping[str, np.ndarray],
               weights: np.ndarray | None = None) -> dict[str, np.ndarray]:
    llrs = physics_llrs(logits)
    out = {}
    for name, e in edges.items():
        h, _ = weighted_hist(llrs[name], e, weights)
        out[name] = h / (h.sum() * np.diff(e))
    return out


def llr_bands(target: np.ndarray, nominal: np.ndarray, variants: Mapping[str, np.ndarray], bins: int = 30,
              mode: str = "envelope") -> dict[str, dict[str, Any]]:
    """Per LLR and bin, the band of the calibrated densities over `variants` (logits each) around `nominal`.

    ``mode="envelope"``: min/max over the nominal and the variants; ``"std"``: nominal ± their
    standard deviation (ddof=1, the bootstrap's statistical band). Bins are fixed by the target.
    Returns per LLR ``edges``, ``target``, ``nominal``, ``lower``, ``upper``, ``spread`` (relative
    half-width where the nominal is non-zero) and each variant's density.
    """
    if mode not in ("envelope", "std"):
        raise EvaluateError(f"llr_bands: mode must be 'envelope' or 'std', got {mode!r}")
    if not variants:
        raise EvaluateError("llr_bands: no variants to make a band from")
    tl = physics_llrs(target)
    edges = {name: common_edges(tl[name], bins) for name in LLRS}
    tgt, nom = _densities(target, edges), _densities(nominal, edges)
    var = {k: _densities(v, edges) for k, v in variants.items()}
    out: dict[str, dict[str, Any]] = {}
    for name in LLRS:
        stack = np.stack([var[k][name] for k in variants])
        if mode == "envelope":
            lo, hi = np.minimum(stack.min(0), nom[name]), np.maximum(stack.max(0), nom[name])
        else:
            sd = stack.std(0, ddof=1) if len(stack) > 1 else np.zeros_like(nom[name])
            lo, hi = nom[name] - sd, nom[name] + sd
        half = (hi - lo) / 2
        spread = np.divide(half, nom[name], out=np.zeros_like(half), where=nom[name] > 0)
        out[name] = {"edges": edges[name].tolist(), "target": tgt[name].tolist(), "nominal": nom[name].tolist(),
                     "lower": lo.tolist(), "upper": hi.tolist(), "spread": spread.tolist(),
                     "variants": {k: var[k][name].tolist() for k in variants}}
    return out


def efficiency(values: np.ndarray, cut: float, weights: np.ndarray | None = None) -> tuple[float, float]:
    """Fraction of `values` above `cut` and its binomial error (with weights: on Kish's effective N)."""
    v = np.asarray(values, np.float64)
    w = np.ones_like(v) if weights is None else np.asarray(weights, np.float64)
    if len(v) == 0 or w.sum() <= 0:
        raise EvaluateError("efficiency: empty sample")
    eff = float(w[v > cut].sum() / w.sum())
    n_eff = w.sum() ** 2 / (w * w).sum()
    return eff, float(np.sqrt(max(eff * (1 - eff), 0.0) / n_eff))


def cuts_at_efficiencies(reference: np.ndarray, efficiencies: Sequence[float]) -> np.ndarray:
    """The cuts that keep each of `efficiencies` of `reference` (its (1 − ε) quantiles)."""
    eff = np.asarray(efficiencies, np.float64)
    if ((eff <= 0) | (eff >= 1)).any():
        raise EvaluateError(f"efficiencies must lie in (0, 1), got {list(efficiencies)}")
    return np.quantile(np.asarray(reference, np.float64), 1 - eff)


def _sf(eff_t: tuple[float, float], eff_c: tuple[float, float]) -> tuple[float, float]:
    (et, st), (ec, sc) = eff_t, eff_c
    if ec <= 0 or et <= 0:
        return float("nan"), float("nan")
    sf = et / ec
    return sf, sf * float(np.hypot(st / et, sc / ec))


def scale_factors(target: np.ndarray, calibrated: np.ndarray, reference: np.ndarray,
                  efficiencies: Sequence[float] = (0.5, 0.3, 0.1), *, variations: Mapping[str, np.ndarray] | None = None,
                  bootstrap: Sequence[np.ndarray] = (), weights: np.ndarray | None = None,
                  llr: str = "log_pHbb_pQCD") -> list[dict[str, float]]:
    """SF = ε_target / ε_calibrated of the cut `llr` > x, at cuts where the `reference` (target jets
    that the efficiencies are not measured on) keeps each of `efficiencies`.

    Arguments:
        target, calibrated, reference: logits (n, 10); `weights` of the calibrated rows (a reweighting).
        variations: calibrated logits from the alternative maps (systematic: the largest |SF_v − SF|).
        bootstrap: calibrated logits from the bootstrap maps (statistical spread of the calibration: std of SF_b).
    Returns:
        one row per efficiency: ``efficiency``, ``cut``, ``eff_target`` ± ``_err``, ``eff_calibrated`` ±
        ``_err``, ``sf`` ± ``sf_stat`` (binomial, both samples), ``sf_syst_variations``,
        ``sf_syst_bootstrap``, ``sf_syst`` (their sum in quadrature), ``sf_total``, and ``sf_<name>`` per variation.
    """
    if llr not in LLRS:
        raise EvaluateError(f"scale_factors: unknown llr {llr!r} (known: {', '.join(LLRS)})")
    val = lambda logits: physics_llrs(logits)[llr]  # noqa: E731
    t, c = val(target), val(calibrated)
    var = {k: val(v) for k, v in (variations or {}).items()}
    boot = [val(b) for b in bootstrap]
    rows = []
    for eps, cut in zip(efficiencies, cuts_at_efficiencies(val(reference), efficiencies)):
        et, ec = efficiency(t, cut), efficiency(c, cut, weights)
        sf, stat = _sf(et, ec)
        sf_v = {k: _sf(et, efficiency(v, cut))[0] for k, v in var.items()}
        sf_b = [_sf(et, efficiency(b, cut))[0] for b in boot]
        syst_v = max((abs(s - sf) for s in sf_v.values()), default=0.0)
        syst_b = float(np.std(sf_b, ddof=1)) if len(sf_b) > 1 else 0.0
        syst = float(np.hypot(syst_v, syst_b))
        rows.append({"efficiency": float(eps), "cut": float(cut), "eff_target": et[0], "eff_target_err": et[1],
                     "eff_calibrated": ec[0], "eff_calibrated_err": ec[1], "sf": sf, "sf_stat": stat,
                     "sf_syst_variations": syst_v, "sf_syst_bootstrap": syst_b, "sf_syst": syst,
                     "sf_total": float(np.hypot(stat, syst)), **{f"sf_{k}": s for k, s in sf_v.items()}})
    return rows

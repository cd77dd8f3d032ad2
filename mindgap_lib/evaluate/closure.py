"""Closure in the tagger's output: class probabilities, physics log-likelihood ratios, distances.

Downstream analyses use the tagger through discriminants such as ``log(p_Hbb / p_QCD)``; a
calibration is judged by how close these get to the target's, measured by the 1-Wasserstein
distance (unbinned, in the observable's own units) and a chi^2/ndf between normalised
histograms (binned, with sum-of-weights-squared errors on both sides). Two finite samples of one
distribution are never at W1 = 0, so every W1 is quoted against its *floor* (independent target
jets, as many as the compared sample) and as its excess over that floor, with bootstrap errors.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
from scipy.special import log_softmax, softmax
from scipy.stats import wasserstein_distance

from ..jetclass.schema import CLASSES
from .config import EvaluateError

__all__ = ["LLRS", "probabilities", "physics_llrs", "observables", "common_edges", "weighted_hist",
           "chi2_ndf", "w1", "w1_floor", "excess", "closure_numbers", "hist_data"]

# name -> (numerator class, denominator class): the discriminants of the paper's Figs 5 and 11
LLRS: dict[str, tuple[str, str]] = {
    "log_pHbb_pQCD": ("Hbb", "QCD"),
    "log_pHcc_pQCD": ("Hcc", "QCD"),
    "log_pHcc_pTbqq": ("Hcc", "Tbqq"),
    "log_pTbqq_pQCD": ("Tbqq", "QCD"),
}


def _check_logits(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or logits.shape[1] != len(CLASSES):
        raise EvaluateError(f"logits must have shape (N, {len(CLASSES)}) in the order {CLASSES}, got {logits.shape}")
    return logits


def probabilities(logits: np.ndarray) -> dict[str, np.ndarray]:
    """``p_<class>`` for the ten classes (softmax of the logits)."""
    p = softmax(_check_logits(logits), axis=1)
    return {f"p_{c}": p[:, i] for i, c in enumerate(CLASSES)}


def physics_llrs(logits: np.ndarray) -> dict[str, np.ndarray]:
    """The log-likelihood ratios of :data:`LLRS` as differences of log-softmax (no overflow)."""
    logp = log_softmax(_check_logits(logits), axis=1)
    idx = {c: i for i, c in enumerate(CLASSES)}
    return {name: logp[:, idx[num]] - logp[:, idx[den]] for name, (num, den) in LLRS.items()}


def observables(logits: np.ndarray) -> dict[str, np.ndarray]:
    """Both: the four LLRs then the ten probabilities."""
    return {**physics_llrs(logits), **probabilities(logits)}


def common_edges(reference: np.ndarray, bins: int = 40, quantiles: tuple[float, float] = (0.005, 0.995)) -> np.ndarray:
    """Uniform bin edges spanning the central quantiles of `reference` (the target)."""
    lo, hi = np.quantile(np.asarray(reference, dtype=np.float64), quantiles)
    if not hi > lo:
        hi = lo + 1e-6
    return np.linspace(lo, hi, bins + 1)


def weighted_hist(x: np.ndarray, edges: np.ndarray, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(sum w, sum w^2) per bin; values outside the edges are folded into the first/last bin."""
    x = np.clip(np.asarray(x, dtype=np.float64), edges[0], edges[-1])
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != x.shape:
        raise EvaluateError(f"histogram: {len(w)} weights for {len(x)} values")
    return np.histogram(x, edges, weights=w)[0], np.histogram(x, edges, weights=w * w)[0]


def chi2_ndf(x: np.ndarray, y: np.ndarray, edges: np.ndarray, wx: np.ndarray | None = None,
             wy: np.ndarray | None = None) -> float:
    """chi^2 / ndf between the unit-normalised histograms of `x` and `y` (shapes only).

    Each bin's variance is ``sum w^2 / (sum w)^2`` from both samples; bins empty in both are
    dropped and one degree of freedom is lost to the normalisation.
    """
    hx, vx = weighted_hist(x, edges, wx)
    hy, vy = weighted_hist(y, edges, wy)
    nx, ny = hx.sum(), hy.sum()
    if nx <= 0 or ny <= 0:
        raise EvaluateError("chi2: a histogram is empty")
    var = vx / nx**2 + vy / ny**2
    used = var > 0
    ndf = int(used.sum()) - 1
    if ndf < 1:
        return float("nan")
    return float(np.sum((hx[used] / nx - hy[used] / ny) ** 2 / var[used]) / ndf)


def w1(x: np.ndarray, y: np.ndarray, wx: np.ndarray | None = None, wy: np.ndarray | None = None) -> float:
    """Unbinned 1-Wasserstein distance between (weighted) samples (scipy)."""
    return float(wasserstein_distance(x, y, u_weights=wx, v_weights=wy))


def _resample(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, n, n)


def w1_floor(null_pool: np.ndarray, target: np.ndarray, n: int, repeats: int, rng: np.random.Generator) -> np.ndarray:
    """W1 between `target` and `repeats` independent draws of `n` jets from `null_pool` (more target jets).

    Two samples of one distribution are never at W1 = 0: this is the floor that the sizes set,
    for a comparison of `n` jets against `target`, and no calibration can beat it.
    """
    pool = np.asarray(null_pool, np.float64)
    return np.array([w1(pool[rng.choice(len(pool), n, replace=n > len(pool))], target) for _ in range(repeats)])


def _paired_bootstrap(target: np.ndarray, null_pool: np.ndarray, n: int,
                      samples: Mapping[str, tuple[np.ndarray, np.ndarray | None]], repeats: int,
                      rng: np.random.Generator) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per repeat, one resample of `target` shared by the floor and every sample: (floors, W1s per sample).

    The floor fluctuates as much as any W1 does. With a null pool of exactly `n` jets (the book's
    layout: as many target fit jets as source eval jets) plain redraws of `n` from it are all the
    same jets, so the floor's spread must come from resampling the pool itself, and pairing it
    with the same target resample keeps the two correlated as the point values are.
    """
    floors, boots = np.empty(repeats), {name: np.empty(repeats) for name in samples}
    for r in range(repeats):
        j = _resample(len(target), rng)
        floors[r] = w1(null_pool[rng.integers(0, len(null_pool), n)], target[j])
        for name, (x, w) in samples.items():
            i = _resample(len(x), rng)
            boots[name][r] = w1(x[i], target[j], None if w is None else w[i])
    return floors, boots


def excess(value: float, floor: float) -> float:
    """The part of a W1 the floor does not explain: sqrt(max(W1² − floor², 0))."""
    return float(np.sqrt(max(value * value - floor * floor, 0.0)))


def closure_numbers(target: np.ndarray, samples: Mapping[str, tuple[np.ndarray, np.ndarray | None]],
                    edges: np.ndarray, null_pool: np.ndarray, repeats: int = 50, seed: int = 0) -> dict[str, float]:
    """W1 and chi²/ndf of each (values, weights) in `samples` to `target`, against the floor.

    Per sample ``<name>``: ``w1_<name>`` with its bootstrap error ``w1_<name>_err``;
    ``w1_excess_<name>`` = sqrt(max(W1² − floor², 0)) with ``_err`` and a one-sided 95 % upper bound
    ``_upper``; ``chi2ndf_<name>``. The floor ``w1_null`` is the W1 of independent target jets, as
    many as the first sample has, drawn from `null_pool` (target jets that are not in `target`);
    ``chi2ndf_null`` likewise. Every error is a paired bootstrap (:func:`_paired_bootstrap`): the
    excess's error carries the floor's fluctuation as well as the sample's, and ``w1_null_err`` is
    the floor's own. ``w1_excess_reduction`` =
    excess(source) / excess(calibrated), with the conservative ``w1_excess_reduction_lower`` =
    excess(source) / upper bound of excess(calibrated), when both samples are present.
    """
    rng = np.random.default_rng(seed)
    target, pool = np.asarray(target, np.float64), np.asarray(null_pool, np.float64)
    samples = {name: (np.asarray(x, np.float64), w) for name, (x, w) in samples.items()}
    n = len(next(iter(samples.values()))[0])
    floor = float(w1_floor(pool, target, n, repeats if len(pool) > n else 1, rng).mean())
    floors, boots = _paired_bootstrap(target, pool, n, samples, repeats, rng)
    out: dict[str, float] = {"w1_null": floor, "w1_null_err": float(floors.std(ddof=1))}
    for name, (x, w) in samples.items():
        value = w1(x, target, w)
        ex = excess(value, floor)
        ex_err = float(np.array([excess(b, f) for b, f in zip(boots[name], floors)]).std(ddof=1))
        out.update({f"w1_{name}": value, f"w1_{name}_err": float(boots[name].std(ddof=1)),
                    f"w1_excess_{name}": ex, f"w1_excess_{name}_err": ex_err,
                    f"w1_excess_{name}_upper": ex + 1.645 * ex_err,
                    f"chi2ndf_{name}": chi2_ndf(x, target, edges, w)})
    null_draw = pool[rng.choice(len(pool), n, replace=n > len(pool))]
    out["chi2ndf_null"] = chi2_ndf(null_draw, target, edges)
    if "source" in samples and "calibrated" in samples:
        src, cal, upper = out["w1_excess_source"], out["w1_excess_calibrated"], out["w1_excess_calibrated_upper"]
        out["w1_excess_reduction"] = src / cal if cal > 0 else float("inf")
        out["w1_excess_reduction_lower"] = src / upper if upper > 0 else float("inf")
    return out


def hist_data(samples: Mapping[str, tuple[np.ndarray, np.ndarray | None]], edges: np.ndarray) -> dict:
    """Unit-area densities and their errors per sample, for the chapters' ratio plots."""
    out: dict = {"edges": edges.tolist()}
    widths = np.diff(edges)
    for name, (x, w) in samples.items():
        h, v = weighted_hist(x, edges, w)
        norm = h.sum() * widths
        out[name] = {"density": (h / norm).tolist(), "error": (np.sqrt(v) / norm).tolist()}
    return out

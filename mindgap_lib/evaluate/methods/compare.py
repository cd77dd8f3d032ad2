"""Every calibration on the same jets, splits and judges: the methods table of chapter 06.

Each method (:data:`METHODS`) learns from the fit rows and calibrates the source's eval rows; every
result is then judged against the target's eval rows by

* cross-fitted discriminators per layer (:func:`~..comparisons.run_discriminators`; all maps share
  the fold assignment of the uncalibrated source, so a jet and its calibrated self are scored by
  fits that saw neither). A reweighting moves no jet, so it is judged by the **weighted** AUC of the
  uncalibrated source-vs-target discriminator's out-of-fold scores, with the method's weights on
  the source: it is 0.5 when the weighted source matches the target *in that score*, a weaker test
  than a discriminator trained on the weighted sample (which the discriminator code does not take);
* the W1 excess over the floor of the four physics LLRs (:func:`~..vertical.closure_table`);
* the effective sample size of the weights, and the wall time of the method.
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping, Sequence

import numpy as np
from tqdm.auto import tqdm

from ..auc import AUC
from ..closure import LLRS
from ..comparisons import Task, run_discriminators
from ..config import DiscriminatorConfig, EvaluateError
from ..discriminator import CrossFit
from ..vertical import closure_table
from ..weights import ess_fraction
from .base import Arrays, Calibration, Method, MethodContext
from .maps import bures, emd, flows4flows, icnn, identity, output_icnn
from .reweight import classifier_weights, gb_available, gb_weights

__all__ = ["METHODS", "available_methods", "run_methods", "weighted_auc", "auc_tasks", "judge", "compare_methods"]

METHODS: dict[str, Method] = {"identity": identity, "icnn": icnn, "bures": bures, "output_icnn": output_icnn,
                              "flows4flows": flows4flows, "classifier_weights": classifier_weights,
                              "gb_weights": gb_weights, "emd": emd}


def _zuko_available() -> bool:
    try:
        import zuko  # noqa: F401
    except ImportError:
        return False
    return True


def available_methods(names: Sequence[str]) -> list[str]:
    """`names` (``identity`` first, always), without those whose optional dependency is missing (a warning)."""
    unknown = sorted(set(names) - set(METHODS))
    if unknown:
        raise EvaluateError(f"unknown method(s) {', '.join(unknown)} (known: {', '.join(METHODS)})")
    missing = {"gb_weights": gb_available, "flows4flows": _zuko_available}
    out = ["identity"] + [n for n in names if n != "identity"]
    for name, ok in missing.items():
        if name in out and not ok():
            warnings.warn(f"method {name} skipped: its optional dependency is not installed", stacklevel=2)
            out.remove(name)
    return out


def run_methods(names: Sequence[str], source_fit: Arrays, target_fit: Arrays, source_eval: Arrays,
                ctx: MethodContext, progress: bool = False) -> dict[str, Calibration]:
    """Each available method of `names` on the same rows, in order."""
    return {name: METHODS[name](source_fit, target_fit, source_eval, ctx)
            for name in tqdm(available_methods(names), desc="methods", disable=not progress)}


def _auc_value(sa: np.ndarray, sb: np.ndarray, wa: np.ndarray) -> float:
    order = np.sort(sb)
    above = len(sb) - np.searchsorted(order, sa, side="right")
    ties = np.searchsorted(order, sa, side="right") - np.searchsorted(order, sa, side="left")
    return float((wa * (above + 0.5 * ties)).sum() / (wa.sum() * len(sb)))


def weighted_auc(scores_a: np.ndarray, scores_b: np.ndarray, weights_a: np.ndarray | None = None, n_boot: int = 50,
                 seed: int = 0) -> AUC:
    """P(score of b > score of a) with `a` weighted, and its bootstrap error (both samples resampled)."""
    sa, sb = np.asarray(scores_a, np.float64), np.asarray(scores_b, np.float64)
    wa = np.ones_like(sa) if weights_a is None else np.asarray(weights_a, np.float64)
    if len(sa) < 2 or len(sb) < 2 or wa.shape != sa.shape or wa.sum() <= 0:
        raise EvaluateError(f"weighted_auc: need >= 2 scores per side and one weight per a-score, got {sa.shape}, "
                            f"{sb.shape}, {wa.shape}")
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        i, j = rng.integers(0, len(sa), len(sa)), rng.integers(0, len(sb), len(sb))
        boots.append(_auc_value(sa[i], sb[j], wa[i]))
    return AUC(_auc_value(sa, sb, wa), float(np.std(boots, ddof=1)))


def _auc_tasks(cals: Mapping[str, Calibration], target_eval: Arrays,
               layers: Sequence[str]) -> dict[tuple[str, str], Task]:
    tasks = {}
    for name, cal in cals.items():
        for layer in layers:
            if cal.weights is None and layer in cal.arrays:
                tasks[name, layer] = Task(cal.arrays[layer], target_eval[layer], f"source:{layer}")
    return tasks


def auc_tasks(cals: Mapping[str, Calibration], target_eval: Arrays,
              layers: Sequence[str]) -> dict[tuple[str, str], Task]:
    """The discriminators :func:`judge` needs: (method, layer) for every map and available layer."""
    return _auc_tasks(cals, target_eval, layers)


def judge(cals: Mapping[str, Calibration], target_eval: Arrays, null_eval: Arrays, layer_names: Sequence[str],
          logits: str, disc: DiscriminatorConfig, *, bins: int = 30, repeats: int = 20, seed: int = 0,
          device: str = "cpu", workers: int = 1, progress: bool = False,
          fits: Mapping[tuple[str, str], CrossFit] | None = None) -> tuple[dict, dict]:
    """The methods table ``{method: {auc: {layer: {value, err}}, w1_excess: {llr: value}, ess, time_s}}``
    and the details (W1 floors and excess errors, transport costs, the discriminators' fold spreads).

    `cals` must hold ``identity`` (its discriminators judge the reweightings). `fits`: the cross-fits of
    :func:`auc_tasks`, when they were run elsewhere (side by side with other work)."""
    if "identity" not in cals:
        raise EvaluateError("judge: the identity calibration is needed (it judges the reweighting methods)")
    if fits is None:
        fits = run_discriminators(_auc_tasks(cals, target_eval, layer_names), disc, seed, device, progress, workers)
    samples = {name: (cal.arrays[logits], cal.weights) for name, cal in cals.items()}
    llr, _, _ = closure_table(samples, target_eval[logits], null_eval[logits], bins, repeats, seed)
    table: dict[str, dict[str, Any]] = {}
    for name, cal in cals.items():
        auc = {}
        for layer in layer_names:
            if (name, layer) in fits:
                auc[layer] = fits[name, layer].auc.as_dict()
            elif cal.weights is not None:
                ref = fits["identity", layer]
                auc[layer] = weighted_auc(ref.scores_a, ref.scores_b, cal.weights, disc.bootstrap, seed).as_dict()
        table[name] = {"auc": auc, "w1_excess": {k: llr[k][f"w1_excess_{name}"] for k in LLRS},
                       "ess": None if cal.weights is None else ess_fraction(cal.weights), "time_s": cal.time_s}
    details = {"w1_floor": {k: llr[k]["w1_null"] for k in LLRS},
               "w1_excess_err": {name: {k: llr[k][f"w1_excess_{name}_err"] for k in LLRS} for name in cals},
               "cost": {name: {"value": cal.cost, "layer": cal.moved} for name, cal in cals.items()},
               "info": {name: cal.info for name, cal in cals.items()},
               "fold_spread": {f"{n}/{l}": r.fold_spread for (n, l), r in fits.items()}}
    return table, details


def compare_methods(names: Sequence[str], source_fit: Arrays, target_fit: Arrays, source_eval: Arrays,
                    target_eval: Arrays, null_eval: Arrays, ctx: MethodContext, auc_layers: Sequence[str], *,
                    bins: int = 30, repeats: int = 20, workers: int = 1,
                    progress: bool = False) -> tuple[dict, dict, dict]:
    """:func:`run_methods` then :func:`judge`: (table, details, calibrations)."""
    cals = run_methods(names, source_fit, target_fit, source_eval, ctx, progress)
    table, details = judge(cals, target_eval, null_eval, auc_layers, ctx.layers.logits, ctx.discriminator, bins=bins,
                           repeats=repeats, seed=ctx.seed, device=ctx.device, workers=workers, progress=progress)
    return table, details, cals

"""Vertical vs horizontal as the gap grows: a scan over the strength of the target's d0 smearing.

For each target of the scan (``ip20``, ``ip30``, ...: only the track d0 resolution worsened, by a
flat 20 %, 30 %, ...) a cross-fitted discriminator on the first head layer tells source from that
target (its AUC says how far apart they are, its out-of-fold weights give the vertical
calibration and its ESS), and a transport map fitted on the samples' fit rows gives the
horizontal one; both are judged on the eval rows by the closure of the physics log-likelihood
ratios, against the floor of independent target jets.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
from tqdm.auto import tqdm

from ..splits import SplitConfig, calibration_rows
from ..tagger.config import Layers
from ..transport.config import TransportConfig
from ..util.parallel import side_by_side
from .calibrated import calibrate, load_tagger
from .comparisons import Task, run_discriminators
from .config import EvaluateConfig, EvaluateError, ScanConfig
from .inputs import write_json
from .run import load_pair
from .samples import eval_samples
from .vertical import closure_table, vertical_weights
from .weights import ess_fraction

__all__ = ["smearing_strength", "scan_point", "smearing_scan"]


def smearing_strength(variation: str) -> float:
    """The relative d0 smearing of a variation (``ip20`` -> 0.20), from :mod:`mindgap_lib.generation.variations`."""
    from ..generation.variations import get_variation

    try:
        var = get_variation(variation)
    except ValueError as err:
        raise EvaluateError(f"scan: {err}") from None
    if var.ip_smear_min != var.ip_smear_max:
        raise EvaluateError(f"scan: variation {variation!r} has no single smearing strength "
                            f"(ip_smear {var.ip_smear_min}-{var.ip_smear_max}); use ip10, ip20, ...")
    return float(var.ip_smear_max)


def _default_fit(source: np.ndarray, target: np.ndarray, cfg: TransportConfig, seed: int, device: str):
    from ..transport.fitting import fit

    return fit(source, target, cfg, seed=seed, device=device, progress=False)


def scan_point(model: Any, source: Mapping[str, np.ndarray], target: Mapping[str, np.ndarray], names: tuple[str, str],
               cfg: EvaluateConfig, tcfg: TransportConfig, split: SplitConfig, seed: int = 0, device: str = "cpu",
               fit: Callable = _default_fit) -> tuple[dict, dict]:
    """Vertical and horizontal closure for one target; returns (numbers, histogram data)."""
    t0 = time.perf_counter()
    layers: Layers = model.head.names
    z, lg = layers.z, layers.logits
    # the scan's own target sample may be smaller than the calibration source: both sides are cut to the target's
    # eval rows, so the null (as many target fit rows) exists and the comparisons are balanced
    cap = len(calibration_rows(len(target[z]), split, names[1]).eval)
    samples = eval_samples(source, target, split, names, min(cfg.max_events, cap) if cfg.max_events > 0 else cap, seed)
    fit_s, fit_t = samples.source_fit_rows, samples.target_fit_rows
    res = run_discriminators({("source_vs_target", z): Task(samples.source[z], samples.target[z], f"scan:{names[1]}")},
                             cfg.discriminator, seed, device, False, 1)[("source_vs_target", z)]
    w = vertical_weights(res)
    tmap = fit(source[z][fit_s], target[z][fit_t], tcfg, seed, device)
    horizontal = calibrate(model, tmap, samples.source[z], z, cfg.batch_size)
    table = {"source": (samples.source[lg], None), "calibrated": (horizontal[lg], None), "vertical": (samples.source[lg], w)}
    llr, _, hists = closure_table(table, samples.target[lg], samples.null[lg], cfg.bins, cfg.null_repeats, seed)
    numbers = {"auc_source_vs_target": res.summary(), "ess_fraction": ess_fraction(w), "closure": llr,
               "n_source_eval": len(samples.source), "n_target_eval": len(samples.target),
               "n_fit": [int(len(fit_s)), int(len(fit_t))], "seconds": time.perf_counter() - t0}
    return numbers, hists


def _point(tagger: Any, source: str, target: str, names: tuple[str, str], cfg: EvaluateConfig, tcfg: TransportConfig,
           split: SplitConfig, seed: int, device: str, fit: Callable) -> tuple[dict, dict]:
    """One scan point from files (a picklable job for a Dask process)."""
    model = load_tagger(tagger, device)
    src, tgt = load_pair(source, target, model.head.names)
    return scan_point(model, src, tgt, names, cfg, tcfg, split, seed, device, fit)


def smearing_scan(tagger: Any, source: str | os.PathLike, targets: Mapping[str, str | os.PathLike], cfg: EvaluateConfig,
                  scan: ScanConfig, tcfg: TransportConfig, split: SplitConfig, *, seed: int = 0, device: str = "cpu",
                  progress: bool = True, out_dir: str | os.PathLike | None = None, fit: Callable = _default_fit) -> dict:
    """ESS and closure of vertical vs horizontal calibration against targets of growing d0 smearing.

    Arguments:
        tagger: tagger folder (or a loaded model, when the points run in this process).
        source: the nominal latents file; targets: ``{variation: latents file}``.
        scan: the ``[scan]`` section (its ``transport`` overrides `tcfg` for the scan's fits; its
            ``workers`` run points side by side in Dask processes, so `fit` must then pickle).
    Returns:
        ``{"points": [{"variation", "strength", ...numbers}], "info": ...}``; with `out_dir`, also
        written to ``scan.json`` (and the histograms to ``scan_figures.json``).
    """
    t0 = time.perf_counter()
    strengths = {v: smearing_strength(v) for v in targets}
    ordered = sorted(targets, key=strengths.get)
    scan_tcfg = tcfg.replace(**scan.transport)
    calls = [((tagger, str(source), str(targets[v]), ("nominal", v), cfg, scan_tcfg, split, seed, str(device), fit), {})
             for v in ordered]
    if scan.workers > 1 and len(calls) > 1:
        if progress:
            print(f"smearing scan: {len(calls)} points in {min(scan.workers, len(calls))} processes", flush=True)
        done = side_by_side(_point, calls, scan.workers)
    else:
        done = [_point(*args) for args, _ in tqdm(calls, desc="smearing scan", disable=not progress)]
    points = [{"variation": v, "strength": strengths[v], **numbers} for v, (numbers, _) in zip(ordered, done)]
    result = {"points": points, "info": {"seed": seed, "device": str(device), "config": cfg.as_dict(),
                                         "scan": scan.as_dict(), "seconds": time.perf_counter() - t0}}
    if out_dir is not None:
        write_json(Path(out_dir) / "scan_figures.json", {v: hists for v, (_, hists) in zip(ordered, done)})
        write_json(Path(out_dir) / "scan.json", result)
    return result

"""Vertical vs horizontal as the gap grows: a scan over the strength of the target's IP smearing.

For each weaker target (``ip10``, ``ip20``, ``ip30``: only the impact parameters smeared by
10/20/30 %) we train the source-vs-target discriminator on z128 (its AUC says how far apart
the samples are, its weights give the vertical calibration and its ESS) and fit a transport
map source -> that target (the horizontal calibration); both are judged on held-out jets by the
closure of the physics log-likelihood ratios.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from tqdm.auto import tqdm

from ..config import load_profile
from ..build.parallel import side_by_side
from .calibrated import calibrate, load_tagger
from .comparisons import make_splits
from .config import EvaluateConfig
from .discriminator import train_discriminator
from .inputs import EvaluateError, write_json
from .run import load_pair
from .vertical import closure_table, vertical_weights
from .weights import ess_fraction

__all__ = ["smearing_strength", "scan_point", "smearing_scan"]


def smearing_strength(variation: str) -> float:
    """The relative IP smearing of a variation (``ip20`` -> 0.20), from :mod:`mindgap_lib.generation.variations`."""
    from ..generation.variations import get_variation
    try:
        var = get_variation(variation)
    except ValueError as err:
        raise EvaluateError(f"scan: {err}") from None
    if var.ip_smear_min != var.ip_smear_max:
        raise EvaluateError(f"scan: variation {variation!r} has no single smearing strength "
                            f"(ip_smear {var.ip_smear_min}-{var.ip_smear_max}); use ip10, ip20, ip30")
    return float(var.ip_smear_max)


def _default_fit(source: np.ndarray, target: np.ndarray, profile: Any, seed: int, device: str, progress: bool, **kw):
    from ..transport import fit
    return fit(source, target, profile=profile, seed=seed, device=device, progress=progress, **kw)


def scan_point(model, src: Mapping[str, np.ndarray], tgt: Mapping[str, np.ndarray], cfg: EvaluateConfig,
               profile: Any, fit: Callable, seed: int = 0, device: str = "cpu", progress: bool = False) -> tuple[dict, dict]:
    """Vertical and horizontal closure for one target; returns (numbers, histogram data).

    The map is fitted on the jets that the discriminator trains and validates on, and both
    calibrations are judged on the held-out test jets.
    """
    t0 = time.perf_counter()
    sp = make_splits(len(src["z128"]), len(tgt["z128"]), cfg.discriminator, seed)
    res = train_discriminator(src["z128"], tgt["z128"], cfg.discriminator, seed, device, splits=(sp.source, sp.target))
    w = vertical_weights(res)
    s, t = sp.source.test, sp.target.test
    fit_s, fit_t = np.setdiff1d(np.arange(len(src["z128"])), s), np.setdiff1d(np.arange(len(tgt["z128"])), t)
    tmap = fit(src["z128"][fit_s], tgt["z128"][fit_t], profile, seed, device, progress, **cfg.scan_transport)
    horizontal = calibrate(model, tmap, src["z128"][s], "z128", cfg.batch_size)
    samples = {"source": (src["logits"][s], None), "horizontal": (horizontal["logits"], None),
               "vertical": (src["logits"][s], w)}
    llr, _, hists = closure_table(samples, tgt["logits"][t], tgt["logits"][fit_t], cfg.bins)
    numbers = {"auc_source_vs_target_z128": res.auc.as_dict(), "ess_fraction": ess_fraction(w),
               "closure": llr, "n_source_test": int(len(s)), "seconds": time.perf_counter() - t0}
    return numbers, hists


def _points(model, latents_dir, variations: list[str], cfg: EvaluateConfig, prof, fit: Callable, seed: int,
            device: str, progress: bool, workers: int) -> list[tuple[dict, dict]]:
    """`scan_point` for each variation: in turn, or side by side in `workers` Dask processes."""
    pairs = [load_pair(latents_dir, v, cfg.max_events, seed) for v in variations]
    if workers > 1 and len(variations) > 1:
        if progress:
            print(f"smearing scan: {len(variations)} points in {min(workers, len(variations))} processes", flush=True)
        return side_by_side(scan_point, [((model, src, tgt, cfg, prof, fit, seed, device, False), {}) for src, tgt in pairs],
                            workers)
    return [scan_point(model, src, tgt, cfg, prof, fit, seed, device, progress)
            for src, tgt in tqdm(pairs, desc="smearing scan", disable=not progress)]


def smearing_scan(tagger_dir: Any, latents_dir: str | os.PathLike, variations: Sequence[str] | None = None,
                  profile: str | Path | Mapping[str, Any] = "cpu", device: str = "cpu", seed: int = 0,
                  progress: bool = True, out_dir: str | os.PathLike | None = None, fit: Callable | None = None,
                  workers: int | None = None, **overrides: Any) -> dict:
    """ESS and closure of vertical vs horizontal calibration against targets of growing IP smearing.

    Arguments:
        latents_dir: holds ``nominal.npz`` and ``<variation>.npz`` for each variation.
        variations: defaults to the profile's ``[evaluate].scan_variations``.
        fit: ``fit(source, target, profile, seed, device, progress, **kw) -> map`` (default:
            :func:`mindgap_lib.transport.fit` with ``[evaluate].scan_transport`` as overrides).
        workers: points computed side by side (default ``[evaluate].workers``); above 1 they run in
            Dask processes, so `fit` must then be picklable (a module-level function).
    Returns:
        ``{"points": [{"variation", "strength", ...numbers}], "info": ...}``; with `out_dir`, also
        written to ``scan.json`` (and the histograms to ``scan_figures.json``).
    """
    t0 = time.perf_counter()
    prof = load_profile(profile)
    cfg = EvaluateConfig.from_profile(prof, **overrides)
    variations = list(variations if variations is not None else cfg.scan_variations)
    strengths = {v: smearing_strength(v) for v in variations}
    model = load_tagger(tagger_dir, device)
    ordered = sorted(variations, key=strengths.get)
    done = _points(model, latents_dir, ordered, cfg, prof, fit or _default_fit, seed, device, progress,
                   cfg.workers if workers is None else workers)
    points = [{"variation": v, "strength": strengths[v], **numbers} for v, (numbers, _) in zip(ordered, done)]
    figs = {v: hists for v, (_, hists) in zip(ordered, done)}
    result = {"points": points, "info": {"seed": seed, "device": str(device), "config": cfg.as_dict(),
                                         "seconds": time.perf_counter() - t0}}
    if out_dir is not None:
        write_json(Path(out_dir) / "scan_figures.json", figs)
        write_json(Path(out_dir) / "scan.json", result)
    return result

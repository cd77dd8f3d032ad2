"""`evaluate`: every closure test of the paper on one (tagger, latents, transport map) triple.

Writes ``out_dir/metrics.json`` (the numbers), ``out_dir/figures.json`` (ROC curves, score and
weight histograms, output-observable histograms) and ``out_dir/pca.json`` (Fig. 3's corner data).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from ..config import load_profile
from .calibrated import calibrate, load_map, load_tagger
from .comparisons import COMPARISONS, EvalSplits, make_splits, run_discriminators, standard_tasks
from .config import EvaluateConfig
from .figdata import auc_rows, discriminator_figdata
from .inputs import LAYERS, EvaluateError, check_same_dims, load_latents, write_json
from .pca import corner_data, fit_pca
from .post_activation import post_activation_study
from .vertical import closure_table, vertical_summary, vertical_weights

__all__ = ["LATENT_KEYS", "load_pair", "evaluate"]

LATENT_KEYS: tuple[str, ...] = ("z128", "z128_post", "penultimate", "logits")


def _cap(arrays: dict[str, np.ndarray], n: int, seed: int) -> dict[str, np.ndarray]:
    rows = len(next(iter(arrays.values())))
    if not n or rows <= n:
        return arrays
    keep = np.sort(np.random.default_rng(seed).choice(rows, n, replace=False))
    return {k: v[keep] for k, v in arrays.items()}


def load_pair(latents_dir: str | os.PathLike, target: str = "target", max_events: int = 0, seed: int = 0,
              keys: tuple[str, ...] = LATENT_KEYS) -> tuple[dict, dict]:
    """``nominal.npz`` and ``<target>.npz`` of `latents_dir`, checked and capped to `max_events` rows."""
    latents_dir = Path(latents_dir)
    src = load_latents(latents_dir / "nominal.npz", keys)
    tgt = load_latents(latents_dir / f"{target}.npz", keys)
    check_same_dims({"nominal.npz": src, f"{target}.npz": tgt}, keys)
    return _cap(src, max_events, seed), _cap(tgt, max_events, seed + 1)


def _check_head(model: torch.nn.Module, src: Mapping[str, np.ndarray]) -> None:
    width = getattr(getattr(model, "config", None), "head_width", None)
    if width is not None and src["z128"].shape[1] != width:
        raise EvaluateError(f"latents z128 has {src['z128'].shape[1]} columns but the tagger head is {width} wide "
                            "(latents and tagger from different runs?)")


def _closure(src, cal, tgt, sp: EvalSplits, weights: Mapping[str, np.ndarray], bins: int) -> tuple[dict, dict, dict]:
    s, t = sp.source.test, sp.target.test
    rest_t = np.setdiff1d(np.arange(len(tgt["logits"])), t)
    samples = {"source": (src["logits"][s], None), "calibrated": (cal["logits"][s], None),
               "vertical": (src["logits"][s], weights["z128"]),
               "vertical_logits": (src["logits"][s], weights["logits"])}
    return closure_table(samples, tgt["logits"][t], tgt["logits"][rest_t], bins)


def _main_results(model, src, tgt, transport, cfg: EvaluateConfig, seed, device, progress):
    cal = calibrate(model, load_map(transport, device), src["z128"], "z128", cfg.batch_size)
    sp = make_splits(len(src["z128"]), len(tgt["z128"]), cfg.discriminator, seed)
    results = run_discriminators(standard_tasks(src, cal, tgt, LAYERS, sp), cfg.discriminator, seed, device, progress,
                                 cfg.workers)
    return cal, sp, results


def evaluate(tagger_dir: Any, latents_dir: str | os.PathLike, transport_dir: Any, out_dir: str | os.PathLike,
             profile: str | Path | Mapping[str, Any] = "cpu", device: str = "cpu", seed: int = 0, progress: bool = True,
             post_transport_dir: Any = None, **overrides: Any) -> dict:
    """Run the closure tests; write metrics.json, figures.json and pca.json to `out_dir`.

    Arguments:
        tagger_dir: tagger folder/file (or a loaded model); latents_dir: holds nominal.npz, target.npz.
        transport_dir: the z128 transport stage folder (uses its ``map/``), or a map object.
        post_transport_dir: optional map fitted on ``z128_post`` (same forms): adds the
            ``post_activation`` study. overrides: fields of :class:`EvaluateConfig` or the discriminator.
    Returns:
        the metrics dict (also in ``metrics.json``).
    """
    t0, out_dir = time.perf_counter(), Path(out_dir)
    cfg = EvaluateConfig.from_profile(load_profile(profile), **overrides)
    model = load_tagger(tagger_dir, device)
    src, tgt = load_pair(latents_dir, "target", cfg.max_events, seed)
    _check_head(model, src)
    cal, sp, results = _main_results(model, src, tgt, transport_dir, cfg, seed, device, progress)
    weights = {layer: vertical_weights(results["source_vs_target", layer]) for layer in LAYERS}
    llr, prob, hists = _closure(src, cal, tgt, sp, weights, cfg.bins)
    vert = vertical_summary({layer: results["source_vs_target", layer] for layer in LAYERS}, cfg.score_bins)
    metrics: dict = {
        "auc": {comp: auc_rows(results)[comp] for comp in COMPARISONS},
        "closure": llr,
        "vertical": {"ess_fraction": vert["by_layer"]["z128"]["ess_fraction"],
                     "weights_from": "source-vs-target discriminator on z128, held-out source jets",
                     **vert["by_layer"]["z128"], "by_layer": vert["by_layer"]},
        "closure_probabilities": prob,
    }
    figures = {**discriminator_figdata(results, cfg.score_bins), "observables": hists, "weights": vert["weights_hist"]}
    pca = corner_data(fit_pca(tgt["z128"], cfg.pca_components, seed),
                      {"source": src["z128"], "target": tgt["z128"], "calibrated": cal["z128"]}, bins=cfg.pca_bins)
    if post_transport_dir is not None:
        post, post_res = post_activation_study(model, src, tgt, cal, load_map(post_transport_dir, device), sp, cfg,
                                               seed, device, progress)
        metrics["post_activation"] = post
        figures["post_activation"] = discriminator_figdata(post_res, cfg.score_bins)
    metrics["info"] = {"n_source": len(src["z128"]), "n_target": len(tgt["z128"]), "n_source_test": len(sp.source.test),
                       "n_target_test": len(sp.target.test), "seed": seed, "device": str(device),
                       "config": cfg.as_dict(), "seconds": time.perf_counter() - t0}
    write_json(out_dir / "figures.json", figures)
    write_json(out_dir / "pca.json", pca)
    write_json(out_dir / "metrics.json", metrics)
    return metrics

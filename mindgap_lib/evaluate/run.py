"""`evaluate`: every closure test of the paper on one (tagger, latents, transport map) triple.

Only eval rows are ever looked at (:mod:`.samples`): the map never saw them, and each
discriminator scores them out of fold. Writes ``out_dir/metrics.json`` (the numbers),
``figures.json`` (ROC curves, score and weight histograms, output-observable histograms),
``pca.json`` (Fig. 3's corner data), ``scores.npz`` (every discriminator's out-of-fold score per jet,
``<comparison>/<layer>/a`` and ``/b``, in eval-row order) and ``rows.npz`` (which rows of each
latents file were used).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..splits import SplitConfig
from ..tagger.config import Layers
from ..util.atomic import writable_folder
from .calibrated import calibrate, load_map, load_tagger
from .comparisons import COMPARISONS, run_discriminators, standard_tasks
from .config import EvaluateConfig, EvaluateError
from .figdata import auc_rows, discriminator_figdata
from .gap_curve import curve_rows, curve_tasks
from .inputs import check_same_dims, load_latents, write_json, write_npz
from .pca import corner_data, fit_pca
from .post_activation import post_activation_study
from .samples import EvalSamples, eval_samples
from .vertical import closure_table, vertical_summary, vertical_weights

__all__ = ["load_pair", "evaluate"]


def load_pair(source: str | os.PathLike, target: str | os.PathLike, layers: Layers) -> tuple[dict, dict]:
    """The head layers (and jet pT, η) of two latents files, checked to have the same widths."""
    src, tgt = load_latents(source, layers.all), load_latents(target, layers.all)
    check_same_dims({Path(source).name: src, Path(target).name: tgt}, layers.all)
    return src, tgt


def _check_head(layers: Layers, src: dict[str, np.ndarray], width: int) -> None:
    if src[layers.z].shape[1] != width:
        raise EvaluateError(f"latents {layers.z} have {src[layers.z].shape[1]} columns but the tagger head is {width} "
                            "wide (latents and tagger from different runs?)")


def _closure(samples: EvalSamples, cal: dict, weights: dict, layers: Layers, cfg: EvaluateConfig, seed: int):
    s, lg = samples.source, layers.logits
    table = {"source": (s[lg], None), "calibrated": (cal[lg], None),
             "vertical": (s[lg], weights[layers.z]), "vertical_logits": (s[lg], weights[lg])}
    return closure_table(table, samples.target[lg], samples.null[lg], cfg.bins, cfg.null_repeats, seed)


def evaluate(tagger: Any, source: str | os.PathLike, target: str | os.PathLike, transport: Any,
             out_dir: str | os.PathLike, cfg: EvaluateConfig, split: SplitConfig, *, post_transport: Any = None,
             names: tuple[str, str] = ("nominal", "target"), seed: int = 0, device: str = "cpu",
             progress: bool = True) -> dict:
    """Run the closure tests; write metrics.json, figures.json, pca.json and rows.npz to `out_dir`.

    Arguments:
        tagger: tagger folder/file (or a loaded model). source, target: latents files of the
            samples `names` (their names pick their fit/eval cut, as in the transport stage).
        transport: the map on the tagger's first head layer (a transport stage folder or a map).
        post_transport: optional map fitted after that layer's GELU: adds the ``post_activation`` study.
    Returns:
        the metrics dict (also in ``metrics.json``).
    """
    t0, out_dir = time.perf_counter(), Path(out_dir)
    # fail before the work, not after it
    writable_folder(out_dir, lambda reason: EvaluateError(f"output folder {out_dir}: {reason}"))
    model = load_tagger(tagger, device)
    layers: Layers = model.head.names
    src_all, tgt_all = load_pair(source, target, layers)
    _check_head(layers, src_all, model.head.layers[0].out_features)
    samples = eval_samples(src_all, tgt_all, split, names, cfg.max_events, seed)
    cal = calibrate(model, load_map(transport, device), samples.source[layers.z], layers.z, cfg.batch_size)
    tasks = standard_tasks(samples.source.arrays, cal, samples.target.arrays, samples.null.arrays, layers.evaluated)
    gap = curve_tasks(src_all[layers.z], tgt_all[layers.z], cfg.gap_sizes, seed, layers.z)
    results = run_discriminators(tasks | gap, cfg.discriminator, seed, device, progress, cfg.workers)
    gap_results = {key: results.pop(key) for key in gap}
    weights = {layer: vertical_weights(results["source_vs_target", layer]) for layer in layers.evaluated}
    llr, prob, hists = _closure(samples, cal, weights, layers, cfg, seed)
    vert = vertical_summary({layer: results["source_vs_target", layer] for layer in layers.evaluated}, cfg.score_bins)
    rows = auc_rows(results)
    metrics: dict = {
        "layers": {"z": layers.z, "z_post": layers.z_post, "evaluated": list(layers.evaluated)},
        "auc": {comp: rows[comp] for comp in COMPARISONS},
        "closure": llr,
        "vertical": {"ess_fraction": vert["by_layer"][layers.z]["ess_fraction"],
                     "weights_from": f"cross-fitted source-vs-target discriminator on {layers.z}, out of fold",
                     **vert["by_layer"][layers.z], "by_layer": vert["by_layer"]},
        "closure_probabilities": prob,
        "gap_curve": {"layer": layers.z, "comparison": "source_vs_target",
                      "rows": "nested random subsets of all calibration rows (fit and eval halves)",
                      "points": curve_rows(gap_results)},
    }
    figures = {**discriminator_figdata(results, cfg.score_bins), "observables": hists, "weights": vert["weights_hist"]}
    pca = corner_data(fit_pca(samples.target[layers.z], cfg.pca_components, seed),
                      {"source": samples.source[layers.z], "target": samples.target[layers.z],
                       "calibrated": cal[layers.z]}, bins=cfg.pca_bins)
    if post_transport is not None:
        post, post_res = post_activation_study(model, samples, cal, load_map(post_transport, device), cfg, layers,
                                               seed, device, progress)
        metrics["post_activation"] = post
        figures["post_activation"] = discriminator_figdata(post_res, cfg.score_bins)
    metrics["info"] = {"n_source": len(src_all[layers.z]), "n_target": len(tgt_all[layers.z]),
                       "n_source_eval": len(samples.source), "n_target_eval": len(samples.target),
                       "n_null": len(samples.null), "n_source_fit": len(samples.source_fit_rows),
                       "n_target_fit": len(samples.target_fit_rows), "folds": cfg.discriminator.folds,
                       "seed": seed, "device": str(device), "config": cfg.as_dict(),
                       "seconds": time.perf_counter() - t0}
    write_npz(out_dir / "scores.npz", {f"{comp}/{layer}/{side}": getattr(res, f"scores_{side}")
                                       for (comp, layer), res in results.items() for side in ("a", "b")})
    write_npz(out_dir / "rows.npz", {"source_eval": samples.source.rows, "target_eval": samples.target.rows,
                                     "null": samples.null.rows, "source_fit": samples.source_fit_rows,
                                     "target_fit": samples.target_fit_rows})
    write_json(out_dir / "figures.json", figures)
    write_json(out_dir / "pca.json", pca)
    write_json(out_dir / "metrics.json", metrics)
    return metrics

"""Beyond the paper: does calibrating *after* the head's first GELU explain its AUC ~ 1 at z128?

GELU has a global minimum ``GELU_MIN ~ -0.170`` (at x ~ -0.752), so ``z128_post`` lives above a
hard floor, with its density piled up against it. A transport map fitted there knows nothing of
the floor: any calibrated value below it is trivially "not target", and a discriminator at the
calibrated layer finds AUC ~ 1, while the next linear layer barely feels it. Calibrating the
pre-activation ``z128`` (unbounded) and applying GELU afterwards cannot cross the floor.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F

from ..tagger.config import Layers
from .calibrated import calibrate
from .comparisons import Task, run_discriminators
from .config import EvaluateConfig
from .figdata import auc_rows
from .samples import EvalSamples
from .vertical import closure_table

__all__ = ["GELU_MIN", "gelu", "floor_stats", "post_activation_study", "auc_rows_by_map", "floor_test"]

GELU_MIN = -0.16997120747  # min_x x * Phi(x), at x = -0.75179


def gelu(x: np.ndarray) -> np.ndarray:
    """The exact (erf) GELU, as the tagger's head uses it."""
    return F.gelu(torch.as_tensor(np.asarray(x, np.float32))).numpy()


def floor_stats(z_post: np.ndarray, tol: float = 1e-4) -> dict[str, float]:
    """How much of a post-GELU sample sits below the floor, and its minimum."""
    z = np.asarray(z_post)
    return {"below_floor_fraction": float(np.mean(z < GELU_MIN - tol)), "min": float(z.min()),
            "jets_with_any_below_floor": float(np.mean((z < GELU_MIN - tol).any(axis=1)))}


def post_activation_study(model: torch.nn.Module, samples: EvalSamples, calibrated_pre: Mapping[str, np.ndarray],
                          transport_post: Any, cfg: EvaluateConfig, layers: Layers, seed: int = 0,
                          device: str = "cpu", progress: bool = True) -> tuple[dict, dict]:
    """AUCs and closure of a map fitted on the post-GELU latent, beside the pre-GELU map seen after GELU.

    Returns ``(metrics, results)``: ``metrics["auc"]`` holds the rows
    ``calibrated_post_vs_target`` (z_post, penultimate, logits), and at z_post ``source_vs_target``,
    ``calibrated_pre_vs_target`` (the z map, then GELU) and ``calibrated_post_clipped_vs_target``
    (the z_post map with values below the floor lifted onto it); ``results`` the cross-fits.
    """
    z, post = layers.z, layers.z_post
    src, tgt = samples.source, samples.target
    cal_post = calibrate(model, transport_post, src[post], post, cfg.batch_size)
    pre_seen_post = gelu(calibrated_pre[z])
    stream = f"source:{post}"
    tasks = {("source_vs_target", post): Task(src[post], tgt[post], stream),
             ("calibrated_pre_vs_target", post): Task(pre_seen_post, tgt[post], stream)}
    for layer in (post, layers.penultimate, layers.logits):
        tasks["calibrated_post_vs_target", layer] = Task(cal_post[layer], tgt[layer], f"source:{layer}")
    # the diagnostic: lift what the map pushed below the floor back onto it; if the floor is the
    # culprit, most of the excess AUC at z_post goes away
    tasks["calibrated_post_clipped_vs_target", post] = Task(np.maximum(cal_post[post], GELU_MIN), tgt[post], stream)
    results = run_discriminators(tasks, cfg.discriminator, seed, device, progress, cfg.workers)
    llr, _, _ = closure_table({"calibrated": (cal_post[layers.logits], None)}, tgt[layers.logits],
                              samples.null[layers.logits], cfg.bins, cfg.null_repeats, seed)
    metrics = {
        "auc": auc_rows(results),
        "floor": {"gelu_min": GELU_MIN, "calibrated_post": floor_stats(cal_post[post]),
                  "calibrated_pre_then_gelu": floor_stats(pre_seen_post), "target": floor_stats(tgt[post]),
                  "source": floor_stats(src[post])},
        "closure": {k: {"w1_calibrated_post": v["w1_calibrated"], "w1_excess_calibrated_post": v["w1_excess_calibrated"],
                        "chi2ndf_calibrated_post": v["chi2ndf_calibrated"]} for k, v in llr.items()},
    }
    return metrics, results


def auc_rows_by_map(metrics: Mapping, layers: Layers) -> dict[str, dict[str, dict[str, float]]]:
    """Calibrated-vs-target AUC per layer for the pre-GELU map and the post-GELU map, from metrics.json.

    The pre-GELU map's z_post entry is its output passed through GELU, so the two rows can be
    compared at every layer downstream of where each map acts.
    """
    main, post = metrics["auc"]["calibrated_vs_target"], metrics["post_activation"]["auc"]
    pre = {layers.z: main[layers.z], layers.z_post: post["calibrated_pre_vs_target"][layers.z_post],
           layers.penultimate: main[layers.penultimate], layers.logits: main[layers.logits]}
    return {"pre": pre, "post": post["calibrated_post_vs_target"],
            "post_clipped": post["calibrated_post_clipped_vs_target"]}


def floor_test(metrics: Mapping, layers: Layers, n_sigma: float = 3.0) -> dict[str, Any]:
    """Does the GELU floor explain a high calibrated-vs-target AUC of the post-activation map?

    ``excess``: AUC(post map) - AUC(pre map then GELU) at z_post, and ``excess_sigma`` in units of
    their combined error; ``explained_by_floor``: the share of that excess removed by lifting the
    sub-floor values onto the floor. ``supported``: the excess is significant (> `n_sigma`) and
    clipping removes at least half of it.
    """
    auc = metrics["post_activation"]["auc"]
    post = auc["calibrated_post_vs_target"][layers.z_post]
    pre = auc["calibrated_pre_vs_target"][layers.z_post]
    clip = auc["calibrated_post_clipped_vs_target"][layers.z_post]
    excess = post["value"] - pre["value"]
    sigma = excess / float(np.hypot(post["err"], pre["err"]))
    explained = (post["value"] - clip["value"]) / excess if excess > 0 else float("nan")
    return {"post": post, "pre": pre, "clipped": clip, "excess": excess, "excess_sigma": sigma,
            "explained_by_floor": explained, "supported": bool(sigma > n_sigma and explained >= 0.5)}

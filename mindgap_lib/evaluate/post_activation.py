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

from .calibrated import calibrate
from .comparisons import EvalSplits, Task, run_discriminators
from .config import EvaluateConfig
from .figdata import auc_rows
from .vertical import closure_table

__all__ = ["GELU_MIN", "gelu", "floor_stats", "post_activation_study", "auc_rows_by_map", "floor_verdict"]

GELU_MIN = -0.16997120747  # min_x x * Phi(x), at x = -0.75179


def gelu(x: np.ndarray) -> np.ndarray:
    """The exact (erf) GELU, as the tagger's head uses it."""
    return F.gelu(torch.as_tensor(np.asarray(x, np.float32))).numpy()


def floor_stats(z_post: np.ndarray, tol: float = 1e-4) -> dict[str, float]:
    """How much of a post-GELU sample sits below the floor, and its minimum."""
    z = np.asarray(z_post)
    return {"below_floor_fraction": float(np.mean(z < GELU_MIN - tol)), "min": float(z.min()),
            "jets_with_any_below_floor": float(np.mean((z < GELU_MIN - tol).any(axis=1)))}


def post_activation_study(model: torch.nn.Module, source: Mapping[str, np.ndarray], target: Mapping[str, np.ndarray],
                          calibrated_pre: Mapping[str, np.ndarray], transport_post: Any, sp: EvalSplits,
                          cfg: EvaluateConfig, seed: int = 0, device: str = "cpu", progress: bool = True) -> tuple[dict, dict]:
    """AUCs and closure of a map fitted on ``z128_post``, beside the ``z128`` map seen after GELU.

    Returns ``(metrics, results)``: ``metrics["auc"]`` holds the rows
    ``calibrated_z128_post_vs_target`` (z128_post, penultimate, logits), and at z128_post
    ``source_vs_target``, ``calibrated_z128_vs_target`` (the z128 map, then GELU) and
    ``calibrated_z128_post_clipped_vs_target`` (the z128_post map with values below the floor
    lifted onto it); ``results`` the discriminators themselves.
    """
    cal_post = calibrate(model, transport_post, source["z128_post"], "z128_post", cfg.batch_size)
    pre_seen_post = gelu(calibrated_pre["z128"])
    pair = (sp.source, sp.target)
    tasks = {("source_vs_target", "z128_post"): Task(source["z128_post"], target["z128_post"], pair),
             ("calibrated_z128_vs_target", "z128_post"): Task(pre_seen_post, target["z128_post"], pair)}
    for layer in ("z128_post", "penultimate", "logits"):
        tasks["calibrated_z128_post_vs_target", layer] = Task(cal_post[layer], target[layer], pair)
    # the diagnostic: lift what the map pushed below the floor back onto it; if the floor is the
    # culprit, most of the excess AUC at z128_post goes away
    clipped = np.maximum(cal_post["z128_post"], GELU_MIN)
    tasks["calibrated_z128_post_clipped_vs_target", "z128_post"] = Task(clipped, target["z128_post"], pair)
    results = run_discriminators(tasks, cfg.discriminator, seed + 1, device, progress, cfg.workers)
    test_s, test_t = sp.source.test, sp.target.test
    llr, _, _ = closure_table({"calibrated": (cal_post["logits"][test_s], None)}, target["logits"][test_t], None, cfg.bins)
    metrics = {
        "auc": auc_rows(results),
        "floor": {"gelu_min": GELU_MIN, "calibrated_z128_post": floor_stats(cal_post["z128_post"]),
                  "calibrated_z128_then_gelu": floor_stats(pre_seen_post), "target": floor_stats(target["z128_post"]),
                  "source": floor_stats(source["z128_post"])},
        "closure": {k: {"w1_calibrated_post": v["w1_calibrated"], "chi2ndf_calibrated_post": v["chi2ndf_calibrated"]}
                    for k, v in llr.items()},
    }
    return metrics, results


def auc_rows_by_map(metrics: Mapping) -> dict[str, dict[str, dict[str, float]]]:
    """Calibrated-vs-target AUC per layer for the z128 map and the z128_post map, from metrics.json.

    The z128 map's z128_post entry is its output passed through GELU, so the two rows can be
    compared at every layer downstream of where each map acts.
    """
    main, post = metrics["auc"]["calibrated_vs_target"], metrics["post_activation"]["auc"]
    pre = {"z128": main["z128"], "z128_post": post["calibrated_z128_vs_target"]["z128_post"],
           "penultimate": main["penultimate"], "logits": main["logits"]}
    return {"map on z128 (pre-activation)": pre, "map on z128_post (post-GELU)": post["calibrated_z128_post_vs_target"],
            "map on z128_post, sub-floor values lifted": post["calibrated_z128_post_clipped_vs_target"]}


def floor_verdict(metrics: Mapping, n_sigma: float = 3.0) -> dict[str, Any]:
    """Does the GELU floor explain a high calibrated-vs-target AUC of the post-activation map?

    ``excess``: AUC(post map) - AUC(pre map then GELU) at z128_post, in units of their combined
    error; ``explained``: the share of that excess removed by lifting the sub-floor values onto
    the floor. Supported when the excess is significant and clipping removes at least half of it.
    """
    auc = metrics["post_activation"]["auc"]
    post = auc["calibrated_z128_post_vs_target"]["z128_post"]
    pre = auc["calibrated_z128_vs_target"]["z128_post"]
    clip = auc["calibrated_z128_post_clipped_vs_target"]["z128_post"]
    excess = post["value"] - pre["value"]
    sigma = excess / float(np.hypot(post["err"], pre["err"]))
    explained = (post["value"] - clip["value"]) / excess if excess > 0 else float("nan")
    supported = bool(sigma > n_sigma and explained >= 0.5)
    text = (f"the post-activation map's AUC at z128_post is {post['value']:.3f} ± {post['err']:.3f} against "
            f"{pre['value']:.3f} ± {pre['err']:.3f} for the pre-activation map ({sigma:+.1f} σ); lifting its "
            f"sub-floor values onto the floor gives {clip['value']:.3f} ± {clip['err']:.3f}")
    if excess > 0:
        text += f", removing {explained:.0%} of the excess"
    text += (". The floor hypothesis is **supported**." if supported else
             ". The floor hypothesis is **not supported** at this profile's sizes.")
    return {"excess": excess, "excess_sigma": sigma, "explained_by_floor": explained, "supported": supported, "text": text}

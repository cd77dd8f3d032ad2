"""Horizontal vs vertical on held-out jets: closure numbers of every output observable, and ESS.

All samples are compared on the source's eval rows (never seen by a map; every weight comes from
the cross-fitted discriminator that did not train on that jet, an honest out-of-sample estimate)
against the target's eval rows; independent target jets give the floor of W1 and chi^2/ndf.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .closure import LLRS, closure_numbers, common_edges, hist_data, observables
from .discriminator import CrossFit
from .weights import density_ratio_weights, ess_fraction

__all__ = ["vertical_weights", "vertical_summary", "closure_table"]


def vertical_weights(result: CrossFit) -> np.ndarray:
    """Mean-1 weights ``s/(1-s)`` of every source row from a cross-fitted source(0)-vs-target(1) discriminator."""
    return density_ratio_weights(result.scores_a)


def vertical_summary(results: Mapping[str, CrossFit], score_bins: int = 50) -> dict:
    """ESS fraction (and how the weight is shared) for weights from each layer's discriminator."""
    out: dict = {"by_layer": {}, "weights_hist": {}}
    for layer, res in results.items():
        w = vertical_weights(res)
        top = np.sort(w)[::-1]
        out["by_layer"][layer] = {
            "ess_fraction": ess_fraction(w), "n": int(len(w)),
            "max_weight_share": float(top[0] / w.sum()),
            "top1pct_weight_share": float(top[: max(1, len(w) // 100)].sum() / w.sum()),
        }
        edges = np.linspace(-6.0, 4.0, score_bins + 1)
        counts = np.histogram(np.clip(np.log10(w), edges[0], edges[-1]), edges)[0]
        out["weights_hist"][layer] = {"edges_log10": edges.tolist(), "counts": counts.tolist()}
    return out


def closure_table(samples: Mapping[str, tuple[np.ndarray, np.ndarray | None]], target: np.ndarray,
                  null_pool: np.ndarray, bins: int = 40, repeats: int = 50, seed: int = 0) -> tuple[dict, dict, dict]:
    """Closure numbers for each output observable: (LLRs, probabilities, histogram data).

    `samples` maps a name (``source``, ``calibrated``, ``vertical``, ...) to (logits, weights);
    `target` and `null_pool` (independent target jets, for the floor) are logits. Every
    observable's bins are fixed by the target.
    """
    obs = {name: observables(x) for name, (x, _) in samples.items()}
    tobs, nobs = observables(target), observables(null_pool)
    llr, prob, hists = {}, {}, {}
    for i, key in enumerate(tobs):
        edges = common_edges(tobs[key], bins)
        per = {name: (obs[name][key], w) for name, (_, w) in samples.items()}
        numbers = closure_numbers(tobs[key], per, edges, nobs[key], repeats if key in LLRS else 2, seed + i)
        (llr if key in LLRS else prob)[key] = numbers
        hists[key] = hist_data({**per, "target": (tobs[key], None)}, edges)
    return llr, prob, hists

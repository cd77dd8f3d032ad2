"""Calibrations that keep the jets and weight them ("vertical"): a classifier's density ratio, and a BDT.

* ``classifier_weights``: the cross-fitted discriminator of chapters 04–05 on the first head layer,
  w = s/(1 − s). It is trained on the source's fit *and* eval rows against the target's fit rows;
  every eval jet is scored out of fold (by a fit that never saw it), and no target eval jet is used.
* ``gb_weights``: hep_ml's gradient-boosted reweighter (Rogozhnikov), fitted on the fit rows and
  applied to the eval rows. By default on the ten **logits**: trees split one column at a time, so
  in the 128-d latent (whose information sits in directions mixing many columns) a few dozen trees
  learn little, while the logits are low-dimensional and are what an analysis reweights. ``gb_layer
  = "z"`` runs it on the latent for comparison.

References:
    Reweighting with Boosted Decision Trees (Rogozhnikov, 2016), arXiv:1608.05806.
    Approximating Likelihood Ratios with Calibrated Discriminative Classifiers (Cranmer, Pavez,
    Louppe, 2015), arXiv:1506.02169.
"""

from __future__ import annotations

import numpy as np

from ..config import EvaluateError
from ..discriminator import cross_fit
from ..weights import density_ratio_weights
from .base import Arrays, Calibration, MethodContext, timed

__all__ = ["classifier_weights", "gb_weights", "gb_available"]


def _unchanged(source_eval: Arrays, ctx: MethodContext) -> dict[str, np.ndarray]:
    layers = ctx.layers
    return {k: np.asarray(source_eval[k]) for k in (layers.z, layers.penultimate, layers.logits)}


@timed
def classifier_weights(source_fit: Arrays, target_fit: Arrays, source_eval: Arrays, ctx: MethodContext) -> Calibration:
    """Density-ratio weights of the eval rows from a cross-fitted source-vs-target discriminator on z."""
    z = ctx.layers.z
    a = np.concatenate([source_fit[z], source_eval[z]])
    res = cross_fit(a, target_fit[z], ctx.discriminator, seed=ctx.seed, device=ctx.device)
    w = density_ratio_weights(res.scores_a[len(source_fit[z]):])
    return Calibration(_unchanged(source_eval, ctx), weights=w, info={"auc_fit": res.auc.value})


def gb_available() -> bool:
    """Whether hep_ml (an optional dependency) can be imported."""
    try:
        import hep_ml.reweight  # noqa: F401
    except ImportError:
        return False
    return True


@timed
def gb_weights(source_fit: Arrays, target_fit: Arrays, source_eval: Arrays, ctx: MethodContext) -> Calibration:
    """hep_ml's GBReweighter on the fit rows of ``gb_layer``, weights predicted for the eval rows."""
    if not gb_available():
        raise EvaluateError("gb_weights needs hep_ml (pip install hep_ml)")
    from hep_ml.reweight import GBReweighter

    m = ctx.methods
    layer = ctx.layers.logits if m.gb_layer == "logits" else ctx.layers.z
    gb = GBReweighter(n_estimators=m.gb_estimators, learning_rate=m.gb_learning_rate, max_depth=m.gb_depth,
                      min_samples_leaf=m.gb_min_leaf, gb_args={"subsample": 0.5, "random_state": ctx.seed % 2**32})
    gb.fit(np.asarray(source_fit[layer], np.float64), np.asarray(target_fit[layer], np.float64))
    w = np.asarray(gb.predict_weights(np.asarray(source_eval[layer], np.float64)), np.float64)
    if not np.isfinite(w).all() or w.sum() <= 0:
        raise EvaluateError("gb_weights: the reweighter returned non-finite or all-zero weights")
    return Calibration(_unchanged(source_eval, ctx), weights=w / w.mean(), info={"layer": layer})

"""What the chapters plot from a set of cross-fitted discriminators: ROC curves, scores, loss curves."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .auc import roc_points
from .discriminator import CrossFit

__all__ = ["auc_rows", "discriminator_figdata"]


def auc_rows(results: Mapping[tuple[str, str], CrossFit]) -> dict[str, dict[str, dict[str, float]]]:
    """``{comparison: {layer: {"value", "err", "fold_mean", "fold_spread", "folds", "n_a", "n_b", ...}}}``."""
    out: dict = {}
    for (comp, layer), res in results.items():
        out.setdefault(comp, {})[layer] = res.summary()
    return out


def _score_hist(res: CrossFit, bins: int) -> dict:
    edges = np.linspace(0.0, 1.0, bins + 1)
    dens = {}
    for name, s in (("a", res.scores_a), ("b", res.scores_b)):
        dens[name] = (np.histogram(s, edges)[0] / (len(s) * np.diff(edges))).tolist()
    # the overlap coefficient: integral of min(p_a, p_b); 1 for identical, 0 for disjoint samples
    overlap = float(np.sum(np.minimum(dens["a"], dens["b"]) * np.diff(edges)))
    return {"edges": edges.tolist(), **dens, "overlap": overlap}


def discriminator_figdata(results: Mapping[tuple[str, str], CrossFit], score_bins: int = 50) -> dict:
    """ROC on a fixed FPR grid, unit-area score histograms (Fig. 4) and the first fold's loss curves."""
    out: dict = {"roc": {}, "scores": {}, "history": {}}
    for (comp, layer), res in results.items():
        out["roc"].setdefault(comp, {})[layer] = roc_points(res.labels, res.scores)
        out["scores"].setdefault(comp, {})[layer] = _score_hist(res, score_bins)
        first = res.histories[0] if res.histories else {}
        out["history"].setdefault(comp, {})[layer] = {**first, "best_epoch": res.best_epochs[0] if res.best_epochs else 0}
    return out

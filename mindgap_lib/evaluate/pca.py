"""PCA of the target's latent space: the leading directions in which to look at closure (Fig. 3)."""

from __future__ import annotations

from typing import Mapping

import numpy as np
from sklearn.decomposition import PCA

from .config import EvaluateError

__all__ = ["fit_pca", "corner_data"]


def fit_pca(target: np.ndarray, n_components: int = 5, seed: int = 0) -> PCA:
    """PCA fitted on the target sample only, so every sample is drawn in the target's frame."""
    target = np.asarray(target, dtype=np.float64)
    if target.ndim != 2 or target.shape[1] < n_components or len(target) < n_components:
        raise EvaluateError(f"pca: cannot take {n_components} components of an array of shape {target.shape}")
    return PCA(n_components=n_components, random_state=seed).fit(target)


def _edges(ref: np.ndarray, bins: int) -> np.ndarray:
    lo, hi = np.quantile(ref, [0.002, 0.998])
    pad = 0.15 * (hi - lo) + 1e-9
    return np.linspace(lo - pad, hi + pad, bins + 1)


def corner_data(pca: PCA, samples: Mapping[str, np.ndarray], reference: str = "target", bins: int = 30) -> dict:
    """1-D and pairwise 2-D unit-area histograms of the PCA projections of each sample.

    Histograms rather than points keep the stored figure data (and the static book) small;
    the bins are fixed by the `reference` sample so all samples share them.
    """
    if reference not in samples:
        raise EvaluateError(f"pca: reference sample {reference!r} not among {sorted(samples)}")
    proj = {name: pca.transform(np.asarray(x, dtype=np.float64)) for name, x in samples.items()}
    k = pca.n_components_
    edges = [_edges(proj[reference][:, i], bins) for i in range(k)]
    out: dict = {"explained_variance_ratio": pca.explained_variance_ratio_.tolist(),
                 "edges": [e.tolist() for e in edges], "hist1d": {}, "hist2d": {}}
    for name, p in proj.items():
        clipped = [np.clip(p[:, i], edges[i][0], edges[i][-1]) for i in range(k)]
        out["hist1d"][name] = [(np.histogram(clipped[i], edges[i])[0] / len(p)).tolist() for i in range(k)]
        out["hist2d"][name] = {f"{i},{j}": (np.histogram2d(clipped[j], clipped[i], [edges[j], edges[i]])[0] / len(p)).tolist()
                               for i in range(k) for j in range(i + 1, k)}
    return out

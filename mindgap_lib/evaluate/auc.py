"""Area under the ROC curve with an uncertainty (DeLong's variance or a stratified bootstrap).

The error quoted is that of the test sample only (the discriminator is held fixed): it is the
right yardstick for "is this AUC compatible with 0.5", the null of two identical samples.

References:
    DeLong, DeLong & Clarke-Pearson, "Comparing the areas under two or more correlated receiver
    operating characteristic curves: a nonparametric approach", Biometrics 44 (1988) 837.
    Sun & Xu, "Fast implementation of DeLong's algorithm", IEEE SPL 21 (2014) 1389.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score, roc_curve

from .config import EvaluateError

__all__ = ["AUC", "auc_with_error", "delong_variance", "bootstrap_error", "roc_points"]


@dataclass(frozen=True)
class AUC:
    value: float
    err: float

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "err": self.err}

    def pulls_from(self, reference: float) -> float:
        """(value - reference) / err: how many standard errors from `reference`."""
        return (self.value - reference) / self.err if self.err > 0 else np.inf


def _split(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels, scores = np.asarray(labels).ravel(), np.asarray(scores, dtype=np.float64).ravel()
    if labels.shape != scores.shape:
        raise EvaluateError(f"auc: labels {labels.shape} and scores {scores.shape} differ in length")
    pos, neg = scores[labels == 1], scores[labels == 0]
    if len(pos) < 2 or len(neg) < 2:
        raise EvaluateError(f"auc: need >= 2 events of each class, got {len(pos)} positive, {len(neg)} negative")
    return pos, neg


def delong_variance(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """(AUC, its DeLong variance) from midranks, O(N log N)."""
    pos, neg = _split(labels, scores)
    m, n = len(pos), len(neg)
    tz = rankdata(np.concatenate([pos, neg]))
    v10 = (tz[:m] - rankdata(pos)) / n          # per positive: fraction of negatives below it
    v01 = 1.0 - (tz[m:] - rankdata(neg)) / m    # per negative: fraction of positives above it
    auc = float(v10.mean())
    return auc, float(v10.var(ddof=1) / m + v01.var(ddof=1) / n)


def bootstrap_error(labels: np.ndarray, scores: np.ndarray, n_boot: int = 200, seed: int = 0) -> float:
    """Standard deviation of the AUC over `n_boot` class-stratified bootstrap resamples."""
    pos, neg = _split(labels, scores)
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    aucs = [roc_auc_score(y, np.r_[rng.choice(pos, len(pos)), rng.choice(neg, len(neg))]) for _ in range(n_boot)]
    return float(np.std(aucs, ddof=1))


def auc_with_error(labels: np.ndarray, scores: np.ndarray, method: str = "delong", n_boot: int = 200,
                   seed: int = 0) -> AUC:
    """AUC of `scores` for `labels` (1 = positive) via sklearn, with a DeLong or bootstrap error."""
    pos, neg = _split(labels, scores)
    value = float(roc_auc_score(np.r_[np.ones(len(pos)), np.zeros(len(neg))], np.r_[pos, neg]))
    if method == "delong":
        err = float(np.sqrt(max(delong_variance(labels, scores)[1], 0.0)))
    elif method == "bootstrap":
        err = bootstrap_error(labels, scores, n_boot, seed)
    else:
        raise EvaluateError(f"auc: unknown error method {method!r} (use 'delong' or 'bootstrap')")
    return AUC(value, err)


def roc_points(labels: np.ndarray, scores: np.ndarray, n: int = 101) -> dict[str, list[float]]:
    """The ROC curve on a fixed grid of false-positive rates (small enough to store as JSON)."""
    fpr, tpr, _ = roc_curve(np.asarray(labels).ravel(), np.asarray(scores).ravel())
    grid = np.linspace(0.0, 1.0, n)
    return {"fpr": grid.tolist(), "tpr": np.interp(grid, fpr, tpr).round(5).tolist()}

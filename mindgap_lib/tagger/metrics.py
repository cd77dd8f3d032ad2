"""Tagging performance in the JetClass conventions: accuracy, AUCs, background rejections.

For class X the discriminant against QCD is ``p_X / (p_X + p_QCD)`` (softmax scores), and the
background rejection at signal efficiency e is ``1 / eps_QCD`` where the X efficiency is e.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from ..jetclass.schema import CLASSES

__all__ = ["JETCLASS_WORKING_POINTS", "softmax", "versus_qcd", "roc_versus_qcd", "rejection", "tagging_metrics"]

# signal efficiency at which the JetClass paper quotes each class's rejection (ParT, Table 2)
JETCLASS_WORKING_POINTS: dict[str, float] = {c: 0.5 for c in CLASSES[1:]} | {"Hqql": 0.99, "Tbl": 0.995}


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def versus_qcd(probs: np.ndarray, labels: np.ndarray, cls: int) -> tuple[np.ndarray, np.ndarray]:
    """Discriminant p_cls / (p_cls + p_QCD) and is-signal flags for jets of class `cls` or QCD."""
    keep = (labels == cls) | (labels == 0)
    p = probs[keep]
    return p[:, cls] / np.maximum(p[:, cls] + p[:, 0], 1e-30), labels[keep] == cls


def roc_versus_qcd(probs: np.ndarray, labels: np.ndarray, cls: int) -> tuple[np.ndarray, np.ndarray]:
    """(signal efficiency, QCD efficiency) along the ROC curve of class `cls` vs QCD."""
    score, is_sig = versus_qcd(probs, labels, cls)
    fpr, tpr, _ = roc_curve(is_sig, score)
    return tpr, fpr


def rejection(probs: np.ndarray, labels: np.ndarray, cls: int, efficiency: float) -> dict:
    """1/eps_QCD at the given signal efficiency; capped at the QCD count when no QCD jet passes."""
    score, is_sig = versus_qcd(probs, labels, cls)
    n_bkg = int((~is_sig).sum())
    if is_sig.sum() == 0 or n_bkg == 0:
        return {"value": None, "limited": False, "n_qcd": n_bkg}
    cut = np.quantile(score[is_sig], 1.0 - efficiency)  # keeps `efficiency` of the signal
    eps = float((score[~is_sig] >= cut).mean())
    limited = eps * n_bkg < 1
    return {"value": float(n_bkg if limited else 1.0 / eps), "limited": bool(limited), "n_qcd": n_bkg}


def _auc(is_sig: np.ndarray, score: np.ndarray) -> float | None:
    return float(roc_auc_score(is_sig, score)) if 0 < is_sig.sum() < len(is_sig) else None


def tagging_metrics(logits: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy, macro one-vs-rest AUC, confusion matrix and per-class AUC/rejections vs QCD."""
    probs = softmax(logits.astype(np.float64))
    k = len(CLASSES)
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (labels, probs.argmax(1)), 1)
    ovr = [_auc(labels == c, probs[:, c]) for c in range(k)]
    per_class = {}
    for c in range(1, k):
        name = CLASSES[c]
        score, is_sig = versus_qcd(probs, labels, c)
        wp = JETCLASS_WORKING_POINTS[name]
        r50 = rejection(probs, labels, c, 0.5)
        per_class[name] = {
            "auc_vs_qcd": _auc(is_sig, score),
            "rejection_at_50": r50["value"],
            "rejection_at_50_limited": r50["limited"],
            "jetclass_efficiency": wp,
            "rejection_jetclass": rejection(probs, labels, c, wp),
            "n_test": int((labels == c).sum()),
        }
    valid = [a for a in ovr if a is not None]
    return {
        "accuracy": float((probs.argmax(1) == labels).mean()),
        "macro_auc": float(np.mean(valid)) if valid else None,
        "auc_one_vs_rest": dict(zip(CLASSES, ovr)),
        "rejection_at_50": {n: v["rejection_at_50"] for n, v in per_class.items()},
        "auc_vs_qcd": {n: v["auc_vs_qcd"] for n, v in per_class.items()},
        "per_class": per_class,
        "confusion": confusion.tolist(),
        "n_test": int(len(labels)),
    }

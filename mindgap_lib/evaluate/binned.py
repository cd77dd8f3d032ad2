"""Closure in bins of a jet variable (pT), and a target whose pT spectrum differs from the source's.

A map fitted on the whole sample can close on average and still miss in a corner: the impact-
parameter smearing of the data-like target depends on the jet's pT and η, so a map that ignores
them has to average over them. Here every calibrated sample is judged per bin of jet pT (bins set
by the target's quantiles), with the discriminator AUC per layer and the LLRs' W1 excess.

A *tilted* target keeps each jet with probability (pT / pT_max)^tilt (an acceptance draw, so no
jet is duplicated and the unweighted tools apply): a data-like sample whose pT spectrum is harder
than the simulation's. An unconditional map then also learns to move the latent of a soft jet
towards that of a harder one, which is not a detector effect; a map conditional on pT does not.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..util.seeds import derive_seed
from .closure import LLRS
from .comparisons import Task
from .config import EvaluateError
from .discriminator import CrossFit
from .vertical import closure_table

__all__ = ["conditions_of", "tilt_rows", "bin_edges", "bin_index", "binned_tasks", "binned_closure"]


def conditions_of(arrays: Mapping[str, np.ndarray], names: Sequence[str], logs: Sequence[str] = ()) -> np.ndarray:
    """The per-jet condition columns `names` (n, k), those in `logs` as their logarithm."""
    cols = []
    for name in names:
        if name not in arrays:
            raise EvaluateError(f"condition {name!r} not in the latents (has: {', '.join(arrays)})")
        col = np.asarray(arrays[name], np.float64)
        if name in logs:
            if (col <= 0).any():
                raise EvaluateError(f"condition {name!r}: log of a non-positive value")
            col = np.log(col)
        cols.append(col)
    return np.stack(cols, axis=1).astype(np.float32)


def tilt_rows(pt: np.ndarray, rows: np.ndarray, tilt: float, seed: int, name: str = "") -> np.ndarray:
    """The subset of `rows` kept with probability (pT / max pT)^tilt (sorted; `tilt` = 0 keeps all)."""
    p = (np.asarray(pt, np.float64)[rows] / float(np.max(pt))) ** tilt
    keep = np.random.default_rng(derive_seed(seed, "tilt", name)).random(len(rows)) < p
    if keep.sum() < 4:
        raise EvaluateError(f"tilt={tilt}: only {keep.sum()} of {len(rows)} jets kept (lower [beyond] tilt)")
    return np.sort(np.asarray(rows)[keep])


def bin_edges(values: np.ndarray, bins: int) -> np.ndarray:
    """Edges at the quantiles of `values`, the outer ones open (−inf, +inf)."""
    inner = np.quantile(np.asarray(values, np.float64), np.linspace(0, 1, bins + 1)[1:-1])
    return np.r_[-np.inf, inner, np.inf]


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)


def binned_tasks(samples: Mapping[str, Mapping[str, np.ndarray]], target: Mapping[str, np.ndarray],
                 bins: Mapping[str, np.ndarray], target_bins: np.ndarray, layers: Sequence[str],
                 prefix: str) -> dict[tuple[str, ...], Task]:
    """One discriminator task per (sample, layer, bin): the sample's jets of the bin against the target's.

    `bins` holds each sample's bin index per row; samples of the same jets (before/after a map)
    share a fold stream, as in :func:`~.comparisons.standard_tasks`."""
    tasks = {}
    for name, arrays in samples.items():
        for layer in layers:
            for b in range(int(target_bins.max()) + 1):
                sel, tsel = bins[name] == b, target_bins == b
                task = Task(arrays[layer][sel], target[layer][tsel], f"{prefix}:{layer}:{b}")
                tasks[prefix, name, layer, str(b)] = task
    return tasks


def binned_closure(samples: Mapping[str, Mapping[str, np.ndarray]], target: Mapping[str, np.ndarray],
                   null: Mapping[str, np.ndarray], bins: Mapping[str, np.ndarray], target_bins: np.ndarray,
                   null_bins: np.ndarray, edges: np.ndarray, fits: Mapping[tuple[str, ...], CrossFit], logits: str,
                   layers: Sequence[str], prefix: str, *, hist_bins: int = 20, repeats: int = 10,
                   seed: int = 0) -> list[dict[str, Any]]:
    """Per bin: its edges and sizes, and per sample the AUC per layer (from `fits`, made with
    :func:`binned_tasks`) and the W1 excess of each LLR over the bin's floor."""
    out = []
    for b in range(len(edges) - 1):
        tsel, nsel = target_bins == b, null_bins == b
        if nsel.sum() < 2:
            raise EvaluateError(f"bin {b}: too few null jets for a W1 floor")
        per = {name: (arrays[logits][bins[name] == b], None) for name, arrays in samples.items()}
        llr, _, _ = closure_table(per, target[logits][tsel], null[logits][nsel], hist_bins, repeats,
                                  derive_seed(seed, prefix, b))
        row: dict[str, Any] = {"bin": b, "low": float(edges[b]), "high": float(edges[b + 1]), "n_target": int(tsel.sum()),
                               "w1_floor": {k: llr[k]["w1_null"] for k in LLRS}, "samples": {}}
        for name in samples:
            row["samples"][name] = {
                "n": int((bins[name] == b).sum()),
                "auc": {layer: fits[prefix, name, layer, str(b)].auc.as_dict() for layer in layers},
                "w1_excess": {k: llr[k][f"w1_excess_{name}"] for k in LLRS},
                "w1_excess_err": {k: llr[k][f"w1_excess_{name}_err"] for k in LLRS}}
        out.append(row)
    return out

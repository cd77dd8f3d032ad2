"""Many discriminators at once: one per (comparison, layer), with shared held-out rows.

Source and calibrated rows are the same jets (before/after T), so they share one split: the
calibrated test rows are the images of the source test rows, and closure can be measured on
jets that no discriminator (and no vertical weight) was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch
from tqdm.auto import tqdm

from ..build.parallel import side_by_side
from .discriminator import DiscriminatorConfig, DiscriminatorResult, Split, split_indices, train_discriminator

__all__ = ["COMPARISONS", "EvalSplits", "make_splits", "Task", "standard_tasks", "run_discriminators"]

COMPARISONS: tuple[str, ...] = ("source_vs_target", "calibrated_vs_target", "target_vs_target")


@dataclass
class EvalSplits:
    """Row splits of the source (and calibrated), of the target, and of the target's two halves."""

    source: Split
    target: Split
    half_a: np.ndarray        # target rows of the first half (null test)
    half_b: np.ndarray
    split_a: Split            # splits within each half, indices into half_a / half_b
    split_b: Split


def make_splits(n_source: int, n_target: int, cfg: DiscriminatorConfig, seed: int = 0) -> EvalSplits:
    perm = np.random.default_rng(seed + 7).permutation(n_target)
    half_a, half_b = np.sort(perm[: n_target // 2]), np.sort(perm[n_target // 2:])
    return EvalSplits(
        source=split_indices(n_source, cfg.val_fraction, cfg.test_fraction, seed),
        target=split_indices(n_target, cfg.val_fraction, cfg.test_fraction, seed + 1),
        half_a=half_a, half_b=half_b,
        split_a=split_indices(len(half_a), cfg.val_fraction, cfg.test_fraction, seed + 2),
        split_b=split_indices(len(half_b), cfg.val_fraction, cfg.test_fraction, seed + 3),
    )


@dataclass
class Task:
    """Tell `a` (label 0) from `b` (label 1), with fixed splits."""

    a: np.ndarray
    b: np.ndarray
    splits: tuple[Split, Split]


def standard_tasks(source: Mapping[str, np.ndarray], calibrated: Mapping[str, np.ndarray],
                   target: Mapping[str, np.ndarray], layers: tuple[str, ...], sp: EvalSplits) -> dict[tuple[str, str], Task]:
    """The paper's three comparisons for each of `layers`."""
    tasks = {}
    for layer in layers:
        tasks["source_vs_target", layer] = Task(source[layer], target[layer], (sp.source, sp.target))
        tasks["calibrated_vs_target", layer] = Task(calibrated[layer], target[layer], (sp.source, sp.target))
        tasks["target_vs_target", layer] = Task(target[layer][sp.half_a], target[layer][sp.half_b], (sp.split_a, sp.split_b))
    return tasks


def run_discriminators(tasks: Mapping[tuple[str, str], Task], cfg: DiscriminatorConfig, seed: int = 0,
                       device: str | torch.device = "cpu", progress: bool = True,
                       workers: int = 1) -> dict[tuple[str, str], DiscriminatorResult]:
    """Train one discriminator per task (each with its own seed): behind one progress bar, or in
    `workers` Dask processes side by side (same results; ``cfg.threads`` torch threads each)."""
    calls = [((task.a, task.b, cfg), {"seed": 1000 * seed + k, "device": str(device), "splits": task.splits})
             for k, task in enumerate(tasks.values())]
    if workers > 1:
        if progress:
            print(f"discriminators: {len(calls)} in {min(workers, len(calls))} processes", flush=True)
        return dict(zip(tasks, side_by_side(train_discriminator, calls, workers)))
    out = {}
    bar = tqdm(zip(tasks, calls), desc="discriminators", total=len(calls), disable=not progress)
    for key, (args, kwargs) in bar:
        bar.set_postfix_str(" ".join(key))
        out[key] = train_discriminator(*args, **kwargs)
    return out


"""Many discriminators at once: one cross-fit per (comparison, layer), every fold its own job.

Source and calibrated rows are the same jets (before/after T), so their cross-fits share the fold
assignment: a calibrated jet is scored by a fit that never saw it, nor its uncalibrated self.
The folds of all comparisons are independent jobs, run behind one progress bar or side by side
in Dask processes; the results do not depend on how they were run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
from tqdm.auto import tqdm

from ..util.parallel import side_by_side
from ..util.seeds import derive_seed
from .config import DiscriminatorConfig
from .discriminator import CrossFit, combine_folds, fit_fold

__all__ = ["COMPARISONS", "Task", "standard_tasks", "run_discriminators"]

COMPARISONS: tuple[str, ...] = ("source_vs_target", "calibrated_vs_target", "target_vs_target")


@dataclass
class Task:
    """Tell `a` (label 0) from `b` (label 1); `stream` names the fold assignment (shared by paired tasks)."""

    a: np.ndarray
    b: np.ndarray
    stream: str = ""


def standard_tasks(source: Mapping[str, np.ndarray], calibrated: Mapping[str, np.ndarray],
                   target: Mapping[str, np.ndarray], null: Mapping[str, np.ndarray],
                   layers: tuple[str, ...]) -> dict[tuple[str, str], Task]:
    """The paper's comparisons for each of `layers`, plus the null (target against an independent target sample)."""
    tasks = {}
    for layer in layers:
        tasks["source_vs_target", layer] = Task(source[layer], target[layer], f"source:{layer}")
        tasks["calibrated_vs_target", layer] = Task(calibrated[layer], target[layer], f"source:{layer}")
        tasks["target_vs_target", layer] = Task(null[layer], target[layer], f"null:{layer}")
    return tasks


def run_discriminators(tasks: Mapping[tuple[str, ...], Task], cfg: DiscriminatorConfig, seed: int = 0,
                       device: str = "cpu", progress: bool = True, workers: int = 1) -> dict[tuple[str, ...], CrossFit]:
    """Cross-fit every task: ``cfg.folds`` fits each, `workers` at a time (Dask processes) or in turn."""
    seeds = {key: derive_seed(seed, "discriminator", task.stream or "/".join(key)) for key, task in tasks.items()}
    calls = [((task.a, task.b, k, cfg, seeds[key], str(device)), {})
             for key, task in tasks.items() for k in range(cfg.folds)]
    if workers > 1 and len(calls) > 1:
        if progress:
            print(f"discriminators: {len(tasks)} comparisons x {cfg.folds} folds in {min(workers, len(calls))} "
                  f"processes", flush=True)
        fits = side_by_side(fit_fold, calls, workers)
    else:
        fits = [fit_fold(*args) for args, _ in tqdm(calls, desc="discriminators", disable=not progress)]
    out = {}
    for i, (key, task) in enumerate(tasks.items()):
        mine = fits[i * cfg.folds:(i + 1) * cfg.folds]
        out[key] = combine_folds(len(task.a), len(task.b), mine, cfg, seeds[key])
    return out

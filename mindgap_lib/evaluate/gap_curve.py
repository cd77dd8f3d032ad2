"""How far apart are source and target? The source-vs-target AUC as the discriminator gets more jets.

A discriminator trained on a finite sample sees only part of a difference between two distributions:
its held-out AUC is a lower bound on the best achievable one, and it rises with the training sample
while the discriminator is data-limited. The curve below measures that rise on nested random subsets of
*all* calibration rows of each sample (fit and eval halves: no map is involved, and every row is still
scored by a cross-fit that never saw it). Where it is still climbing at the largest size, the gap is
wider than any single number of the closure table says.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ..util.seeds import derive_seed
from .comparisons import Task
from .discriminator import CrossFit

__all__ = ["curve_sizes", "curve_tasks", "curve_rows"]

KEY = "gap_curve"


def curve_sizes(sizes: tuple[int, ...], n_source: int, n_target: int) -> list[int]:
    """`sizes` (jets per side; 0: all) clipped to the rows both samples have, sorted, without repeats."""
    top = min(n_source, n_target)
    return sorted({top if s <= 0 else min(int(s), top) for s in sizes})


def curve_tasks(source: np.ndarray, target: np.ndarray, sizes: tuple[int, ...], seed: int = 0,
                layer: str = "z128") -> dict[tuple[str, str], Task]:
    """One source-vs-target task per size on nested random subsets of the rows of `source` and `target`."""
    order_s = np.random.default_rng(derive_seed(seed, KEY, "source")).permutation(len(source))
    order_t = np.random.default_rng(derive_seed(seed, KEY, "target")).permutation(len(target))
    return {(KEY, f"{layer}:{n}"): Task(source[np.sort(order_s[:n])], target[np.sort(order_t[:n])], f"{KEY}:{n}")
            for n in curve_sizes(sizes, len(source), len(target))}


def curve_rows(results: Mapping[tuple[str, str], CrossFit]) -> list[dict[str, float]]:
    """The curve's points, smallest sample first: jets per side, AUC with its error and the fold spread."""
    rows = []
    for (kind, _), fit in results.items():
        if kind != KEY:
            continue
        s = fit.summary()
        rows.append({"jets_per_side": s["n_a"], "auc": s["value"], "err": s["err"],
                     "fold_spread": s["fold_spread"]})
    return sorted(rows, key=lambda r: r["jets_per_side"])

"""Which calibration jets fit a map and which judge it: one split, used by every stage.

Each calibration sample (the source ``nominal``, the target, a scan point) is cut once, by a seeded
permutation, into *fit* rows and *eval* rows. Transport maps are fitted on fit rows only;
discriminators train, stop early and are tested on eval rows only, and every closure number is
computed on the discriminators' test rows. No number that judges a map is ever computed on a jet
the map was fitted on (``tests/test_evaluate.py`` asserts it on the indices).

The null comparisons (target against target) need a second target sample as large as the source
and disjoint from the target's eval rows: the target's fit rows serve, since nothing in a null
comparison was fitted on them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from .errors import MindgapError
from .util.sections import Section

__all__ = ["SplitConfig", "SplitError", "CalibrationRows", "calibration_rows", "take"]


class SplitError(MindgapError, ValueError):
    """A split that cannot be made: a fraction outside (0, 1), or too few jets."""


@dataclass(frozen=True)
class SplitConfig(Section):
    """The ``[split]`` section: the share of each calibration sample that fits the maps."""

    SECTION = "split"
    fit_fraction: float = 0.5   # share of each calibration sample that fits the transport maps
    seed: int = 0

    def check(self) -> None:
        if not 0.0 < self.fit_fraction < 1.0:
            raise SplitError(f"[split] fit_fraction must lie in (0, 1), got {self.fit_fraction!r}")
        if self.seed < 0:
            raise SplitError(f"[split] seed must be an integer >= 0, got {self.seed!r}")


@dataclass(frozen=True)
class CalibrationRows:
    """Sorted row indices of one sample: ``fit`` (maps) and ``eval`` (discriminators, closure)."""

    fit: np.ndarray
    eval: np.ndarray


def _sample_seed(seed: int, sample: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{sample}".encode()).digest()[:8], "little")


def calibration_rows(n: int, cfg: SplitConfig, sample: str) -> CalibrationRows:
    """The fit/eval cut of a sample of `n` jets named `sample` (each sample has its own permutation)."""
    n_fit = int(round(cfg.fit_fraction * n))
    if min(n_fit, n - n_fit) < 2:
        raise SplitError(f"sample {sample!r}: {n} jets are too few to split with fit_fraction={cfg.fit_fraction}")
    perm = np.random.default_rng(_sample_seed(cfg.seed, sample)).permutation(n)
    return CalibrationRows(fit=np.sort(perm[:n_fit]), eval=np.sort(perm[n_fit:]))


def take(arrays: Mapping[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """Rows `rows` of every array of a latents dict."""
    return {k: np.asarray(v)[rows] for k, v in arrays.items()}

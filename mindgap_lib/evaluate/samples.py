"""The jets an evaluation may look at: each sample's *eval* rows, never a map's fitting rows.

The split (:mod:`mindgap_lib.splits`) cuts every calibration sample once into fit rows (the maps
learn from them) and eval rows (discriminators, closure, figures). The null comparisons need a
second, independent target sample as large as the source's eval rows: the target's *fit* rows
serve, since no null comparison involves a map. The row indices travel with the arrays, so the
tests can assert on them that nothing an evaluation scores was ever fitted on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..splits import SplitConfig, calibration_rows
from ..util.seeds import derive_seed
from .config import EvaluateError

__all__ = ["EvalSample", "EvalSamples", "eval_samples"]


@dataclass
class EvalSample:
    """Arrays of one sample restricted to `rows` (indices into the full latents file)."""

    name: str
    rows: np.ndarray
    arrays: dict[str, np.ndarray]

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]

    def __len__(self) -> int:
        return len(self.rows)


@dataclass
class EvalSamples:
    """The source's and the target's eval rows, and the null: target rows that are not eval rows."""

    source: EvalSample
    target: EvalSample
    null: EvalSample
    source_fit_rows: np.ndarray   # what the maps saw (for the leak checks)
    target_fit_rows: np.ndarray


def _cap(rows: np.ndarray, n: int, seed: int) -> np.ndarray:
    if n <= 0 or len(rows) <= n:
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, n, replace=False))


def _take(arrays: Mapping[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {k: np.asarray(v)[rows] for k, v in arrays.items()}


def eval_samples(source: Mapping[str, np.ndarray], target: Mapping[str, np.ndarray], split: SplitConfig,
                 names: tuple[str, str] = ("nominal", "target"), max_events: int = 0, seed: int = 0) -> EvalSamples:
    """Eval rows of `source` and `target` (full latents dicts, sample names `names`), capped at
    `max_events` each, and a null sample of target fit rows the size of the source's eval rows."""
    n_s, n_t = len(next(iter(source.values()))), len(next(iter(target.values())))
    rs, rt = calibration_rows(n_s, split, names[0]), calibration_rows(n_t, split, names[1])
    ev_s = _cap(rs.eval, max_events, derive_seed(seed, "cap", names[0]))
    ev_t = _cap(rt.eval, max_events, derive_seed(seed, "cap", names[1]))
    if len(rt.fit) < len(ev_s):
        raise EvaluateError(f"null comparison: the target {names[1]!r} has {len(rt.fit)} rows outside its eval rows, "
                            f"fewer than the source's {len(ev_s)} eval rows (lower [evaluate] max_events or "
                            "raise [split] fit_fraction)")
    null = np.sort(np.random.default_rng(derive_seed(seed, "null", names[1])).choice(rt.fit, len(ev_s), replace=False))
    return EvalSamples(EvalSample(names[0], ev_s, _take(source, ev_s)), EvalSample(names[1], ev_t, _take(target, ev_t)),
                       EvalSample(f"{names[1]} (null)", null, _take(target, null)), rs.fit, rt.fit)

"""The one learning-rate schedule of the package: linear warm-up, then cosine annealing to a floor."""

from __future__ import annotations

import math

__all__ = ["warmup_cosine"]


def warmup_cosine(step: int, total: int, warmup: int = 0, floor: float = 0.0) -> float:
    """Multiplier of the base learning rate at `step` (0-based) of `total`.

    Rises linearly over the first `warmup` steps to 1, then follows half a cosine down to `floor`
    (a fraction of the base rate) at step `total`, and stays there.
    """
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    t = min(1.0, max(0.0, (step - warmup) / max(1, total - warmup)))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))

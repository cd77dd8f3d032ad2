"""The common interface of every calibration method: fit rows in, calibrated eval rows (or weights) out.

A method is ``method(source_fit, target_fit, source_eval, ctx) -> Calibration``: it may learn from
the two samples' *fit* rows only, and returns the source's *eval* rows calibrated (latent maps:
the moved latent and what the frozen rest of the head makes of it; output maps: the logits only;
reweighting methods: the eval rows unchanged with one weight each). All methods then face the same
judges (:mod:`.compare`) on the same jets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from ...tagger.config import Layers
from ...transport.config import TransportConfig
from ..beyond_config import MethodsConfig
from ..config import DiscriminatorConfig

__all__ = ["Head", "Calibration", "MethodContext", "Method", "timed", "latent_result"]

Head = Callable[[np.ndarray], dict[str, np.ndarray]]   # z (n, width) -> {"penultimate": ..., "logits": ...}
Arrays = Mapping[str, np.ndarray]


@dataclass
class Calibration:
    """One method's calibrated eval rows.

    arrays: the calibrated arrays by layer name (every evaluated layer for a latent map, the
        logits alone for an output map, the source's own arrays for a reweighting).
    weights: one per eval row (mean 1) for reweighting methods, else None.
    cost: √E‖T(x) − x‖² in the layer `moved` (the transport cost of a map), None for weights.
    """

    arrays: dict[str, np.ndarray]
    weights: np.ndarray | None = None
    cost: float | None = None
    moved: str | None = None
    time_s: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class MethodContext:
    """What a method may use beside the rows: the head, the layer names, the settings, prefitted maps."""

    layers: Layers
    head: Head
    methods: MethodsConfig
    transport: TransportConfig
    discriminator: DiscriminatorConfig
    seed: int = 0
    device: str = "cpu"
    prefit: dict[str, Any] = field(default_factory=dict)   # method name -> a fitted map to apply instead


Method = Callable[[Arrays, Arrays, Arrays, MethodContext], Calibration]


def timed(fn: Method) -> Method:
    """Record the method's wall time (fit and apply) in its result."""
    def wrapper(source_fit: Arrays, target_fit: Arrays, source_eval: Arrays, ctx: MethodContext) -> Calibration:
        t0 = time.perf_counter()
        out = fn(source_fit, target_fit, source_eval, ctx)
        out.time_s = time.perf_counter() - t0
        return out
    wrapper.__name__, wrapper.__doc__ = fn.__name__, fn.__doc__
    return wrapper


def latent_result(z: np.ndarray, moved: np.ndarray, ctx: MethodContext, **info: Any) -> Calibration:
    """The moved latent, pushed through the frozen rest of the head, with its transport cost."""
    moved = np.asarray(moved, np.float32)
    cost = float(np.sqrt(((moved.astype(np.float64) - z) ** 2).sum(1).mean()))
    return Calibration({ctx.layers.z: moved, **ctx.head(moved)}, cost=cost, moved=ctx.layers.z, info=dict(info))

"""The calibrated path: source latent -> transport map T -> the tagger's frozen rest of the head.

The map acts on one latent layer (``z128``, before the head's first GELU, as in the paper, or
``z128_post``, after it); the deeper layers (penultimate, logits) of the calibrated sample are
whatever the frozen tagger makes of the transported latent (:meth:`Head.from_layer`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from .config import EvaluateError

__all__ = ["IdentityMap", "load_tagger", "load_map", "head_from", "calibrate"]


class _Map(Protocol):
    def transport(self, x: np.ndarray) -> np.ndarray: ...


class IdentityMap:
    """T(x) = x: the calibrated path must then reproduce the uncalibrated latents exactly."""

    def transport(self, x: np.ndarray) -> np.ndarray:
        return np.array(x, dtype=np.float32, copy=True)


def load_tagger(tagger: Any, device: str | torch.device = "cpu") -> torch.nn.Module:
    """A tagger folder/file (via :func:`mindgap_lib.tagger.load`) or an already-built model."""
    if isinstance(tagger, torch.nn.Module):
        return tagger.to(device).eval()
    from ..tagger.checkpoint import load  # heavy, and written by another stage

    return load(tagger, device=device)


def load_map(transport: Any, device: str | torch.device = "cpu") -> _Map:
    """A transport folder (its ``map/`` or the map folder itself) or an object with ``transport``."""
    if hasattr(transport, "transport"):
        return transport
    path = Path(transport)
    if (path / "map").is_dir():
        path = path / "map"
    if not path.exists():
        raise EvaluateError(f"{path}: no transport map (fit one with `mindgap fit-transport`)")
    from ..transport.map import TransportMap

    return TransportMap.load(path, device=str(device))


@torch.no_grad()
def head_from(model: torch.nn.Module, z: np.ndarray, layer: str, batch_size: int = 8192) -> dict[str, np.ndarray]:
    """Penultimate and logits of the frozen head applied to latent `z` (N, width) of `layer`."""
    z = np.asarray(z, dtype=np.float32)
    head = model.head
    width = head.layers[0].out_features
    if layer not in head.names.calibratable:
        raise EvaluateError(f"calibrated layer must be one of {head.names.calibratable}, got {layer!r}")
    if z.ndim != 2 or z.shape[1] != width:
        raise EvaluateError(f"{layer}: latent of shape {z.shape} does not fit the tagger head (width {width})")
    device = next(model.parameters()).device
    model.eval()
    parts: dict[str, list[np.ndarray]] = {head.names.penultimate: [], head.names.logits: []}
    for i in range(0, len(z), batch_size):
        out = head.from_layer(layer, torch.from_numpy(z[i:i + batch_size]).to(device))
        for k in parts:
            parts[k].append(out[k].float().cpu().numpy())
    return {k: np.concatenate(v) if v else np.zeros((0, 0), np.float32) for k, v in parts.items()}


def calibrate(model: torch.nn.Module, transport_map: _Map, z: np.ndarray, layer: str,
              batch_size: int = 8192) -> dict[str, np.ndarray]:
    """``{layer: T(z), "penultimate": ..., "logits": ...}`` for the source latent `z`."""
    z = np.asarray(z, dtype=np.float32)
    dim = getattr(transport_map, "dim", None)
    if dim is not None and (z.ndim != 2 or z.shape[1] != dim):
        raise EvaluateError(f"transport map acts on {dim}-dimensional {layer}, got latents of shape {z.shape}")
    moved = np.asarray(transport_map.transport(z), dtype=np.float32)
    if moved.shape != z.shape:
        raise EvaluateError(f"transport map returned shape {moved.shape} for {layer} input {z.shape}")
    return {layer: moved, **head_from(model, moved, layer, batch_size)}

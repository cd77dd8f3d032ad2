"""The calibrated path: source latent -> transport map T -> the tagger's frozen rest of the head.

The map acts on one latent layer (``z128``, before the head's first GELU, as in the paper, or
``z128_post``, after it); the deeper layers (penultimate, logits) of the calibrated sample are
whatever the frozen tagger makes of the transported latent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from .inputs import EvaluateError

__all__ = ["CALIBRATED_LAYERS", "IdentityMap", "load_tagger", "load_map", "head_from", "calibrate"]

# latents a map may act on: pre- and post-activation of the head's first layer
CALIBRATED_LAYERS: tuple[str, ...] = ("z128", "z128_post")


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
    from .. import tagger as tagger_pkg  # heavy, and written by another stage
    return tagger_pkg.load(tagger, device=device)


def load_map(transport: Any, device: str | torch.device = "cpu") -> _Map:
    """A transport folder (its ``map/`` or the map folder itself) or an object with ``transport``."""
    if hasattr(transport, "transport"):
        return transport
    path = Path(transport)
    if (path / "map").is_dir():
        path = path / "map"
    if not path.exists():
        raise EvaluateError(f"{path}: no transport map (fit one with `mindgap fit-transport`)")
    from ..transport import TransportMap
    return TransportMap.load(path, device=str(device))


def _rest_after_activation(model: torch.nn.Module, h: torch.Tensor) -> dict[str, torch.Tensor]:
    """The head after its first GELU, for taggers without ``head_from_z128_post``.

    Mirrors :class:`mindgap_lib.tagger.model.Head`: hidden layers ``layers[1:]`` each followed
    by GELU, then ``out``. Checked against ``head_from_z128`` in the tests.
    """
    head = getattr(model, "head", None)
    if head is None or not hasattr(head, "layers") or not hasattr(head, "out"):
        raise EvaluateError("tagger has neither head_from_z128_post nor a head with .layers/.out: "
                            "cannot push a calibrated z128_post through the rest of the head")
    for layer in head.layers[1:]:
        h = F.gelu(layer(h))
    return {"penultimate": h, "logits": head.out(h)}


def _head_fn(model: torch.nn.Module, layer: str):
    if layer == "z128":
        return model.head_from_z128
    if layer == "z128_post":
        own = getattr(model, "head_from_z128_post", None)
        return own if own is not None else (lambda h: _rest_after_activation(model, h))
    raise EvaluateError(f"calibrated layer must be one of {CALIBRATED_LAYERS}, got {layer!r}")


def _width(model: torch.nn.Module) -> int | None:
    cfg = getattr(model, "config", None)
    return getattr(cfg, "head_width", None)


@torch.no_grad()
def head_from(model: torch.nn.Module, z: np.ndarray, layer: str = "z128", batch_size: int = 8192) -> dict[str, np.ndarray]:
    """Penultimate and logits of the frozen head applied to latent `z` (N, width) of `layer`."""
    z = np.asarray(z, dtype=np.float32)
    width = _width(model)
    if z.ndim != 2 or (width is not None and z.shape[1] != width):
        raise EvaluateError(f"{layer}: latent of shape {z.shape} does not fit the tagger head (width {width})")
    fn, device = _head_fn(model, layer), next(model.parameters()).device
    model.eval()
    parts: dict[str, list[np.ndarray]] = {"penultimate": [], "logits": []}
    for i in range(0, len(z), batch_size):
        out = fn(torch.from_numpy(z[i:i + batch_size]).to(device))
        for k in parts:
            parts[k].append(out[k].float().cpu().numpy())
    return {k: np.concatenate(v) if v else np.zeros((0, 0), np.float32) for k, v in parts.items()}


def calibrate(model: torch.nn.Module, transport_map: _Map, z: np.ndarray, layer: str = "z128",
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

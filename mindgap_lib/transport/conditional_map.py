"""`ConditionalMap`: T(x | c) = ∇ₓg(x, c) in original coordinates, saved without pickle.

The solver's coordinates follow :class:`~.map.TransportMap`: u = Bᵀ(x − shift)/scale on the data's
principal span (B = ``basis``, or the identity), the rest of x carried over unchanged; the
conditions are standardised with the pooled mean and standard deviation, and a condition column
that is constant on the fit samples is dropped (the network never sees it, so a constant condition
cannot change the map).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..util.atomic import atomic_torch_save, atomic_write_text
from .config import TransportError
from .dual import solve_conjugate
from .map import CONFIG_FILE, WEIGHTS_FILE, map_weights_errors, read_map_folder
from .picnn import PICNN, PICNNConfig

__all__ = ["Frame", "make_frame", "AtCondition", "ConditionalMap"]


@dataclass
class Frame:
    """Standardisation of the latent (shift, scale, optional basis) and of the condition (mean, std, kept columns)."""

    shift: np.ndarray
    scale: np.ndarray
    basis: np.ndarray | None
    c_mean: np.ndarray
    c_std: np.ndarray
    c_keep: np.ndarray

    def x(self, x: np.ndarray) -> np.ndarray:
        centred = np.asarray(x, np.float32) - self.shift
        return ((centred if self.basis is None else centred @ self.basis) / self.scale).astype(np.float32)

    def back(self, v: np.ndarray, x: np.ndarray) -> np.ndarray:
        if self.basis is None:
            return v * self.scale + self.shift
        centred = np.asarray(x, np.float32) - self.shift
        return x + (v * self.scale - centred @ self.basis) @ self.basis.T

    def c(self, c: np.ndarray) -> np.ndarray:
        c = np.asarray(c, np.float32).reshape(len(c), -1)
        if c.shape[1] != len(self.c_keep):
            raise TransportError(f"condition: expected {len(self.c_keep)} column(s), got shape {c.shape}")
        return ((c - self.c_mean) / self.c_std)[:, self.c_keep].astype(np.float32)

    def tensors(self) -> dict[str, torch.Tensor]:
        out = {k: torch.from_numpy(np.asarray(getattr(self, k))) for k in ("shift", "scale", "c_mean", "c_std", "c_keep")}
        if self.basis is not None:
            out["basis"] = torch.from_numpy(self.basis)
        return out

    @classmethod
    def from_tensors(cls, state: dict[str, torch.Tensor]) -> "Frame":
        get = lambda k: state[k].cpu().numpy()  # noqa: E731
        return cls(get("shift"), get("scale"), get("basis") if "basis" in state else None, get("c_mean"), get("c_std"),
                   get("c_keep").astype(bool))


def make_frame(x: np.ndarray, y: np.ndarray, subspace_tol: float, cx: np.ndarray | None = None,
               cy: np.ndarray | None = None, whiten: bool = False) -> Frame:
    """Target-centred frame on the pooled principal span (variance > tol · the largest), isotropic (one
    scale: Euclidean geometry kept, as OT needs) or `whiten`ed (unit variance per principal direction of
    the pooled samples, for density models); pooled condition standardisation, constant condition columns
    dropped (no conditions: an empty one)."""
    shift = y.mean(0)
    basis = None
    if subspace_tol > 0:
        pooled = np.concatenate([x, y]).astype(np.float64) - shift
        var, vec = np.linalg.eigh(pooled.T @ pooled / len(pooled))
        keep = var > subspace_tol * var.max()
        basis = None if keep.all() else np.ascontiguousarray(vec[:, keep][:, ::-1], dtype=np.float32)
    if whiten and basis is None:  # whitening needs the principal directions even when all are kept
        pooled = np.concatenate([x, y]).astype(np.float64) - shift
        basis = np.ascontiguousarray(np.linalg.eigh(pooled.T @ pooled / len(pooled))[1][:, ::-1], dtype=np.float32)
    proj = (y - shift) if basis is None else (y - shift) @ basis
    if whiten:
        both = np.concatenate([x - shift, y - shift]) @ basis
        scale = np.maximum(both.std(0), 1e-12).astype(np.float32)
    else:
        scale = np.full(proj.shape[1], max(float(np.sqrt((proj.std(0) ** 2).mean())), 1e-12), np.float32)
    if cx is None or cy is None:
        cx, cy = np.zeros((len(x), 0)), np.zeros((len(y), 0))
    c = np.concatenate([cx, cy]).astype(np.float64)
    mean, std = c.mean(0), c.std(0)
    keep = std > 1e-6 * (np.abs(mean) + 1e-12)  # float32 round-off of a constant column is not a condition
    return Frame(shift.astype(np.float32), scale, basis, mean.astype(np.float32),
                 np.where(keep, std, 1.0).astype(np.float32), keep)


class AtCondition:
    """``f(·, c)`` for fixed conditions c (B, m): what :func:`~.dual.solve_conjugate` needs of a potential."""

    def __init__(self, net: PICNN, c: torch.Tensor) -> None:
        self.net, self.c = net, c

    def grad(self, y: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
        return self.net.grad(y, self.c, create_graph)

    def __call__(self, y: torch.Tensor) -> torch.Tensor:
        return self.net(y, self.c)


class ConditionalMap:
    """T(x | c) = ∇ₓg(x, c) (source → target) and ∇_y f(y, c) (≈ its inverse), in original coordinates.

    Arguments:
        f, g: the conditional potentials on the target and source side (solver coordinates).
        frame: the standardisation of latents and conditions (:class:`Frame`).
        config: the solver configuration (JSON-serialisable), kept with the weights.
        history: training curves (lists per validation).
    """

    def __init__(self, f: PICNN, g: PICNN, frame: Frame, config: dict[str, Any], history: dict | None = None) -> None:
        self.f, self.g, self.frame = f.eval(), g.eval(), frame
        self.config, self.history = dict(config), history or {}

    @property
    def dim(self) -> int:
        return len(self.frame.shift)

    @property
    def device(self) -> torch.device:
        return self.g.quadratic.L.device

    def _apply(self, net: PICNN, x: np.ndarray, c: np.ndarray, chunk: int, refine: int) -> np.ndarray:
        x = np.asarray(x, np.float32)
        if x.ndim != 2 or x.shape[1] != self.dim or len(c) != len(x):
            raise TransportError(f"ConditionalMap expects x of shape (n, {self.dim}) and n conditions, "
                                 f"got {x.shape} and {np.shape(c)}")
        u_all, c_all = self.frame.x(x), self.frame.c(c)
        out = np.empty_like(x)
        for i in range(0, len(x), chunk):
            u = torch.from_numpy(u_all[i:i + chunk]).to(self.device)
            cc = torch.from_numpy(c_all[i:i + chunk]).to(self.device)
            v = net.grad(u, cc)
            if refine:
                v, _ = solve_conjugate(AtCondition(self.f, cc), u, v, self.g.quadratic.matrix().detach(), refine,
                                       float(self.config.get("conj_step_size", 1.0)))
            out[i:i + chunk] = self.frame.back(v.detach().cpu().numpy(), x[i:i + chunk])
        return out

    def transport(self, x: np.ndarray, c: np.ndarray, chunk: int = 8192, refine: int | None = None) -> np.ndarray:
        """Source → target at conditions c (n, m): ∇ₓg(x, c), refined by ``refine`` conjugate steps
        (default: the config's ``map_refine_steps``; the refined point is ∇f*(x, c))."""
        steps = int(self.config.get("map_refine_steps", 0)) if refine is None else int(refine)
        return self._apply(self.g, x, c, chunk, steps)

    def inverse(self, y: np.ndarray, c: np.ndarray, chunk: int = 8192) -> np.ndarray:
        """Target → source at conditions c: ∇_y f(y, c)."""
        return self._apply(self.f, y, c, chunk, 0)

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``path/weights.pt`` (state dicts and frame tensors) and ``path/config.json``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        state = {"f": self.f.state_dict(), "g": self.g.state_dict(), "frame": self.frame.tensors()}
        atomic_torch_save(state, path / WEIGHTS_FILE)
        meta = {"picnn": vars(self.g.config), "config": self.config, "history": self.history}
        atomic_write_text(path / CONFIG_FILE, json.dumps(meta, indent=1, default=float))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "cpu") -> "ConditionalMap":
        """Rebuild a saved map (tensors only); a missing, truncated or tampered file is a
        :class:`~.config.TransportError` naming it (see :func:`~.map.read_map_folder`)."""
        path = Path(path)
        picnn, config, history, state = read_map_folder(path, device, "picnn", PICNNConfig,
                                                        "no conditional map here (missing {name})")
        with map_weights_errors(path):
            nets = [PICNN(picnn).to(device) for _ in range(2)]
            for net, key in zip(nets, ("f", "g")):
                net.load_state_dict(state[key])
            frame = Frame.from_tensors(state["frame"])
        return cls(nets[0], nets[1], frame, config, history)

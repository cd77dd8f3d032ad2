"""`TransportMap`: the fitted pair of potentials, applied in original coordinates, saved without pickle.

The solver works on standardised data u = (x − shift) / scale (the target's scaler, applied to both
samples) and maps back with x = shift + scale · u. With a single (isotropic) scale the map stays the
gradient of a convex function in original coordinates — T(x) = ∇[scale² g((x − shift)/scale) +
⟨shift, x⟩] — and it is the Euclidean Brenier map. A per-dimension ("diagonal") scale, as in the
paper, conjugates ∇g by a diagonal matrix: the result is the Brenier map for the standardised cost,
a monotone map but in general not a gradient in original coordinates.

With a ``basis`` B (d, k) of the data's span, the solver's coordinates are u = Bᵀ(x − shift) / scale
and the part of x outside the span is carried over unchanged: T(x) = x + B·(scale·∇g(u) − Bᵀ(x − shift)),
still the gradient of a convex function (g on the span plus ½‖·‖² on its complement).
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from ..util.atomic import atomic_torch_save, atomic_write_text
from .config import TransportError
from .conjugate import refine_conjugate
from .icnn import ICNN, ICNNConfig, build_potential

__all__ = ["TransportMap", "WEIGHTS_FILE", "CONFIG_FILE"]

WEIGHTS_FILE = "weights.pt"
CONFIG_FILE = "config.json"


def solver_coords(x: np.ndarray, shift: np.ndarray, scale: np.ndarray, basis: np.ndarray | None = None) -> np.ndarray:
    """The solver's coordinates of x: (x − shift) / scale, projected on `basis` (d, k) when there is one."""
    centred = x - shift
    return (centred if basis is None else centred @ basis) / scale


class TransportMap:
    """T = ∇g (source → target) and its inverse ∇f (target → source), in original coordinates.

    Arguments:
        f, g: the potentials on the target and source side (standardised coordinates).
        shift: the scaler's shift, shape (d,); scale: its scale, shape (k,) (k = d without a basis).
        config: the solver configuration (JSON-serialisable), kept with the weights.
        history: training curves, dict of lists (see `fit`).
        basis: optional orthonormal (d, k) basis of the span the map acts in (see the module doc).
    """

    def __init__(self, f: ICNN, g: ICNN, shift: np.ndarray, scale: np.ndarray, config: dict[str, Any],
                 history: dict[str, list] | None = None, basis: np.ndarray | None = None) -> None:
        self.f, self.g = f.eval(), g.eval()
        self.shift = np.asarray(shift, dtype=np.float32)
        self.scale = np.asarray(scale, dtype=np.float32)
        self.basis = None if basis is None else np.asarray(basis, dtype=np.float32)
        self.config = dict(config)
        self.history = history or {}

    @property
    def dim(self) -> int:
        """Dimension of the data (the solver's is ``g.config.dim``, smaller with a basis)."""
        return len(self.shift)

    def _to_solver(self, x: np.ndarray) -> np.ndarray:
        return solver_coords(x, self.shift, self.scale, self.basis)

    def _from_solver(self, v: np.ndarray, x: np.ndarray) -> np.ndarray:
        if self.basis is None:
            return v * self.scale + self.shift
        centred = x - self.shift
        return x + (v * self.scale - centred @ self.basis) @ self.basis.T

    @property
    def device(self) -> torch.device:
        return self.g.quadratic.L.device

    def _apply(self, net: ICNN, x: np.ndarray, chunk: int, refine: int = 0) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"TransportMap expects an array of shape (n, {self.dim}), got {x.shape}")
        out = np.empty_like(x)
        for i in range(0, len(x), chunk):
            u = torch.from_numpy(np.ascontiguousarray(self._to_solver(x[i:i + chunk]))).to(self.device)
            v = net.grad(u)
            if refine:
                v, _ = refine_conjugate(self.f, u, v, self.g.quadratic.matrix().detach(), refine,
                                        self.config.get("conj_solver", "gd"), float(self.config.get("conj_step_size", 1.0)))
            out[i:i + chunk] = self._from_solver(v.detach().cpu().numpy(), x[i:i + chunk])
        return out

    @property
    def reverse(self) -> bool:
        """True when the dual was solved target → source (``direction = "reverse"``): then f lives on the
        source side and T = ∇f exactly, while g amortises the inverse (∇f)⁻¹ = ∇f*."""
        return self.config.get("direction", "forward") == "reverse"

    def transport(self, x: np.ndarray, chunk: int = 8192, refine: int | None = None) -> np.ndarray:
        """Source → target, shape (n, d) in and out.

        Forward solve: ∇g(x) refined by ``refine`` conjugate steps (default: the config's
        ``map_refine_steps``), which solve ∇f(y) = x from the warm start ∇g(x), i.e. return ∇f*(x):
        still the gradient of a convex function (f*), and the map the dual actually optimised;
        ``refine=0`` gives the bare amortised ∇g. Reverse solve: ∇f(x), the gradient of the convex
        potential the dual optimised, with no inner problem (``refine`` is ignored).
        """
        if self.reverse:
            return self._apply(self.f, x, chunk)
        steps = int(self.config.get("map_refine_steps", 0)) if refine is None else int(refine)
        return self._apply(self.g, x, chunk, steps)

    def inverse(self, y: np.ndarray, chunk: int = 8192, refine: int | None = None) -> np.ndarray:
        """Target → source: ∇f (forward solve, ≈ (∇g)⁻¹ once trained) or, for a reverse solve, ∇g refined
        into ∇f* like `transport` of a forward solve."""
        if not self.reverse:
            return self._apply(self.f, y, chunk)
        steps = int(self.config.get("map_refine_steps", 0)) if refine is None else int(refine)
        return self._apply(self.g, y, chunk, steps)

    def potential(self, x: np.ndarray) -> np.ndarray:
        """g at x (standardised coordinates' potential evaluated at the standardised x), for plots."""
        u = torch.from_numpy(np.ascontiguousarray(self._to_solver(np.asarray(x, np.float32)))).to(self.device)
        with torch.no_grad():
            return self.g(u).cpu().numpy()

    def save(self, path: str | os.PathLike) -> Path:
        """Write ``path/weights.pt`` (state dicts + scaler tensors) and ``path/config.json``."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        state = {"f": self.f.state_dict(), "g": self.g.state_dict(),
                 "shift": torch.from_numpy(self.shift), "scale": torch.from_numpy(self.scale)}
        if self.basis is not None:
            state["basis"] = torch.from_numpy(self.basis)
        atomic_torch_save(state, path / WEIGHTS_FILE)
        meta = {"icnn": vars(self.g.config), "config": self.config, "history": self.history}
        atomic_write_text(path / CONFIG_FILE, json.dumps(meta, indent=1, default=float))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "cpu") -> "TransportMap":
        """Rebuild a saved map (``torch.load(weights_only=True)``: tensors only, no pickled objects).

        A missing, truncated or tampered file, a config with unknown keys and weights that do not
        fit the stored architecture are :class:`TransportError`s naming the file.
        """
        path = Path(path)
        icnn, config, history, state = read_map_folder(
            path, device, "icnn", ICNNConfig, "no transport map here (missing {name}; fit one with `mindgap fit-transport`)")
        with map_weights_errors(path):
            nets = [build_potential(icnn).to(device) for _ in range(2)]
            for net, key in zip(nets, ("f", "g")):
                net.load_state_dict(state[key])
            shift, scale = state["shift"].cpu().numpy(), state["scale"].cpu().numpy()
        basis = state["basis"].cpu().numpy() if "basis" in state else None
        return cls(nets[0], nets[1], shift, scale, config, history, basis)


def read_map_folder(path: Path, device: str, arch_key: str, arch: Callable[..., Any],
                    missing: str) -> tuple[Any, dict, Any, dict]:
    """(architecture config, solver config, history, tensors) of a saved map folder.

    ``torch.load(weights_only=True)``: tensors only, no pickled objects. A missing file (`missing`, with
    ``{name}``), a config that is not JSON or has unknown keys, and a truncated or tampered weights file
    are :class:`TransportError`s naming the file.
    """
    for name in (WEIGHTS_FILE, CONFIG_FILE):
        if not (path / name).is_file():
            raise TransportError(f"{path}: " + missing.format(name=name))
    try:
        meta = json.loads((path / CONFIG_FILE).read_text())
        unknown = sorted(set(meta) - {arch_key, "config", "history"})
        if unknown:
            raise KeyError(f"unknown keys {unknown}")
        arch_cfg = arch(**meta[arch_key])
        config, history = dict(meta["config"]), meta["history"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise TransportError(f"{path / CONFIG_FILE}: not a transport-map config ({type(err).__name__}: {err})") from None
    try:
        state = torch.load(path / WEIGHTS_FILE, map_location=device, weights_only=True)
    except Exception as err:  # truncated zip, or a pickle that weights_only refuses to run
        raise TransportError(f"{path / WEIGHTS_FILE}: not a readable map file: only plain tensors are loaded, "
                             f"and this file is truncated or holds other objects ({type(err).__name__})") from None
    return arch_cfg, config, history, state


@contextlib.contextmanager
def map_weights_errors(path: Path) -> Iterator[None]:
    """Weights that do not fit the stored architecture (missing or renamed tensors, wrong shapes) as a
    one-line :class:`TransportError` naming the weights file."""
    try:
        yield
    except (KeyError, RuntimeError, TypeError, AttributeError) as err:
        raise TransportError(f"{path / WEIGHTS_FILE}: weights do not fit the stored architecture "
                             f"({type(err).__name__}: {str(err).splitlines()[0][:200]})") from None

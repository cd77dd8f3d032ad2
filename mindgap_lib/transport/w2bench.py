"""The public continuous Wasserstein-2 benchmark's high-dimensional pairs ("Mix3toMix10"), rebuilt in torch.

Korotin et al. publish, per dimension d, two input-convex potentials ψ₁, ψ₂ (their ``DenseICNN``) and
define the pair as: source P = a 3-component Gaussian mixture, target Q = ∇ψ#P with ψ = ψ₁ + ψ₂ shifted
and scaled so that Q has zero mean and unit mean per-dimension variance. Brenier's theorem makes ∇ψ
the exact optimal map, so a solver's error is measured against it (L2-UVP). This module re-implements
the architecture from its description, loads the published state dicts (``{d}_v1.pt``, ``{d}_v2.pt``),
reproduces the input mixture (its centres and covariances come from NumPy's seed 0) and the metric.

References:
    Do Neural Optimal Transport Solvers Work? A Continuous Wasserstein-2 Benchmark (Korotin et al.,
    NeurIPS 2021), arXiv:2106.01954; https://github.com/iamalexkorotin/Wasserstein2Benchmark.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .config import TransportError
from .init import bures_map
from .known_maps import KnownPair

__all__ = ["DenseICNN", "load_potential", "mixture_parameters", "mix3tomix10_pair", "benchmark_l2_uvp",
           "linear_baseline", "DIMS", "ESTIMATE_SIZE"]

DIMS = (2, 4, 8, 16, 32, 64, 128, 256, 512)  # dimensions the benchmark defines (we vendor 2, 4, 16, 64, 128)
ESTIMATE_SIZE = 2**14                        # samples the repository uses for the standardisation and Var(Q)
MIX_COMPONENTS, MIX_DIST, MIX_STD = 3, 1.0, 0.4


class _ConvexQuadratic(nn.Module):
    """Per output unit j: Σ_r (xᵀ Q[:, r, j])² + W_j·x + b_j (convex in x); the benchmark's quadratic skip."""

    def __init__(self, dim: int, width: int, rank: int) -> None:
        super().__init__()
        self.quadratic_decomposed = nn.Parameter(torch.zeros(dim, rank, width))
        self.weight = nn.Parameter(torch.zeros(width, dim))
        self.bias = nn.Parameter(torch.zeros(width))

    def forward(self, x: Tensor) -> Tensor:
        proj = torch.einsum("bd,drw->brw", x, self.quadratic_decomposed)     # (B, rank, W)
        return (proj * proj).sum(1) + x @ self.weight.T + self.bias


class DenseICNN(nn.Module):
    """The benchmark's ``DenseICNN``: quadratic input layers, non-negative hidden weights, CELU, ½μ‖x‖².

    h₁ = q₀(x);  h_{k+1} = celu(P_k h_k + q_k(x));  ψ(x) = aᵀ h_K + ½ μ ‖x‖², with q_k the convex
    quadratic layers above and P_k, a ≥ 0 (the published weights are non-negative; `load_potential` checks).
    """

    def __init__(self, dim: int, hidden: tuple[int, ...], rank: int = 1, strong_convexity: float = 1e-2) -> None:
        super().__init__()
        self.dim, self.strong_convexity = dim, strong_convexity
        self.quadratic_layers = nn.ModuleList(_ConvexQuadratic(dim, w, rank) for w in hidden)
        self.convex_layers = nn.ModuleList(nn.Linear(a, b, bias=False) for a, b in zip(hidden[:-1], hidden[1:]))
        self.final_layer = nn.Linear(hidden[-1], 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        h = self.quadratic_layers[0](x)
        for quad, lin in zip(self.quadratic_layers[1:], self.convex_layers):
            h = torch.celu(lin(h) + quad(x))
        return self.final_layer(h).squeeze(-1) + 0.5 * self.strong_convexity * (x * x).sum(-1)


def benchmark_hidden(dim: int) -> tuple[int, int, int]:
    """Hidden sizes of the Mix3toMix10 potentials: [max(2d, 64), max(2d, 64), max(d, 32)]."""
    return (max(2 * dim, 64), max(2 * dim, 64), max(dim, 32))


def load_potential(path: str | os.PathLike, dim: int) -> DenseICNN:
    """One published potential; any missing/extra key, wrong shape, non-finite or negative convex weight
    is a `TransportError` naming the file (a truncated download or a file of another dimension)."""
    path = Path(path)
    if not path.is_file():
        raise TransportError(f"{path}: benchmark potential not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise TransportError(f"{path}: not a readable torch state dict ({type(err).__name__}: {err})") from None
    net = DenseICNN(dim, benchmark_hidden(dim))
    want = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    if not isinstance(state, dict):
        raise TransportError(f"{path}: expected a state dict, got {type(state).__name__}")
    got = {k: tuple(v.shape) for k, v in state.items() if isinstance(v, Tensor)}
    if got != want:
        diff = sorted(set(got.items()) ^ set(want.items()))[:4]
        raise TransportError(f"{path}: not a d={dim} Mix3toMix10 DenseICNN (keys/shapes differ: {diff})")
    for key, val in state.items():
        if not torch.isfinite(val).all():
            raise TransportError(f"{path}: non-finite values in {key}")
        if (key.startswith("convex_layers") or key.startswith("final_layer")) and (val < 0).any():
            raise TransportError(f"{path}: negative weights in {key} (the potential would not be convex)")
    net.load_state_dict(state)
    return net.requires_grad_(False).eval()


def mixture_parameters(dim: int, num: int = MIX_COMPONENTS, dist: float = MIX_DIST,
                       std: float = MIX_STD) -> tuple[np.ndarray, np.ndarray]:
    """Centres (num, d) and linear maps (num, d, d) of the input mixture, drawn as the repository does.

    Its ``Mix3ToMix10Benchmark`` seeds NumPy with 0, then per dimension assigns the component centres a
    random permutation of {0, dist, …}·(num−1) (centred), draws Gaussian maps with unit-norm rows, and
    rescales both so the mixture has unit mean per-dimension variance. Samples are maps[k] z · std + centres[k].
    """
    rng = np.random.RandomState(0)
    centers = np.zeros((num, dim), dtype=np.float32)
    for d in range(dim):
        centers[:, d] += dist * rng.choice(list(range(num)), num, replace=False)
    centers -= dist * (num - 1) / 2
    maps = rng.normal(size=(num, dim, dim)).astype(np.float32)
    maps /= np.sqrt((maps**2).sum(axis=2, keepdims=True))
    mult = np.sqrt((centers**2).sum(axis=1).mean() + dim * std**2) / np.sqrt(dim)
    return centers / mult, maps / mult


def _sampler(centers: np.ndarray, maps: np.ndarray, std: float):
    def sample(n: int, rng: np.random.Generator) -> np.ndarray:
        k = rng.integers(len(centers), size=n)
        z = rng.normal(size=(n, centers.shape[1])).astype(np.float32)
        out = np.empty_like(z)
        for j in range(len(centers)):
            sel = k == j
            out[sel] = z[sel] @ maps[j].T * std + centers[j]
        return out
    return sample


def _gradient(nets: list[DenseICNN], x: np.ndarray, chunk: int = 4096) -> np.ndarray:
    out = np.empty_like(x, dtype=np.float32)
    for i in range(0, len(x), chunk):
        xb = torch.from_numpy(np.ascontiguousarray(x[i:i + chunk], dtype=np.float32)).requires_grad_(True)
        with torch.enable_grad():
            (g,) = torch.autograd.grad(sum(net(xb).sum() for net in nets), xb)
        out[i:i + chunk] = g.numpy()
    return out


def mix3tomix10_pair(dim: int, root: str | os.PathLike, seed: int = 0) -> KnownPair:
    """The benchmark pair in `dim` dimensions from ``root/Mix3toMix10/{dim}_v{1,2}.pt``.

    ``true_map`` is the standardised ∇(ψ₁ + ψ₂); ``info`` holds the standardisation (shift, scale),
    ``output_var`` (the repository's Var(Q): summed per-dimension variance of 2¹⁴ mapped samples, the
    L2-UVP denominator), the input/output moments for the linear baseline and the files read.
    `seed` only fixes the 2¹⁴-sample estimates (the repository draws them afresh on every load).
    """
    if dim not in DIMS:
        raise TransportError(f"Mix3toMix10 is defined for d in {DIMS}, got d={dim}")
    files = [Path(root) / "Mix3toMix10" / f"{dim}_v{v}.pt" for v in (1, 2)]
    nets = [load_potential(f, dim) for f in files]
    centers, maps = mixture_parameters(dim)
    sample = _sampler(centers, maps, MIX_STD)
    rng = np.random.default_rng(seed)
    raw = _gradient(nets, sample(ESTIMATE_SIZE, rng))
    shift = raw.mean(0)
    scale = float(np.sqrt((raw - shift).var(axis=0).mean()))

    def true_map(x: np.ndarray) -> np.ndarray:
        return (_gradient(nets, np.asarray(x, np.float32)) - shift) / scale

    x_est = sample(ESTIMATE_SIZE, rng)
    y_est = true_map(sample(ESTIMATE_SIZE, rng))
    info = {"shift": shift, "scale": scale, "output_var": float(y_est.var(axis=0).sum()),
            "input_mean": np.zeros(dim), "input_cov": np.cov(x_est.T.astype(np.float64)),
            "output_mean": y_est.mean(0).astype(np.float64), "output_cov": np.cov(y_est.T.astype(np.float64)),
            "files": [str(f) for f in files], "centers": centers, "maps": maps}
    return KnownPair(f"mix3tomix10-{dim}", dim, sample, true_map, info)


def benchmark_l2_uvp(pair: KnownPair, mapped: np.ndarray, reference: np.ndarray) -> float:
    """The repository's forward L2-UVP: 100 · E‖T̂(x) − T*(x)‖² / Var(Q), Var(Q) from ``info['output_var']``."""
    mapped, reference = np.asarray(mapped, np.float64), np.asarray(reference, np.float64)
    if mapped.shape != reference.shape:
        raise ValueError(f"benchmark_l2_uvp: mapped {mapped.shape} and reference {reference.shape} differ")
    return 100.0 * float(((mapped - reference) ** 2).sum(1).mean()) / pair.info["output_var"]


def linear_baseline(pair: KnownPair):
    """The repository's linear baseline: the Bures map between the (estimated) input and output moments."""
    i = pair.info
    A, b = bures_map(i["input_mean"], i["input_cov"], i["output_mean"], i["output_cov"])
    return lambda x: np.asarray(x, np.float64) @ A.T + b

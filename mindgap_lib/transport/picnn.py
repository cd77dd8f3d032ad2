"""Partially input-convex networks: potentials g(x, c) convex in x for every condition c.

The gradient ∇ₓg(·, c) is then a Brenier map for each c: a *conditional* optimal-transport map
T(x | c), here with x a tagger latent and c = (pT, η) of the jet. Convexity in x holds for any
parameter values, as in :mod:`.icnn`: the condition enters through a free ("context") path whose
features u_k only ever

* gate the convex path's hidden units by non-negative factors (softplus), which keeps a
  non-negative combination of convex functions convex,
* scale the input x entry-wise inside affine terms (affine in x for fixed c), and
* add biases;

the quadratic term ½ xᵀ L D(c) Lᵀ x + b(c)ᵀx has a positive diagonal D(c), so it is PSD for every c.
Its shift b(c) = b₀ + B c + (zero-initialised correction of u) can start at the conditional Gaussian
map (means linear in c), and D(c) starts at one.

References:
    Input Convex Neural Networks (Amos, Xu, Kolter, 2017), arXiv:1609.07152 (Sec. 3.2, PICNN).
    Supervised Training of Conditional Monge Maps (Bunne, Krause, Cuturi, 2022), arXiv:2206.14262.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .icnn import PositiveLinear, zeroed_softplus

__all__ = ["PICNNConfig", "ContextPath", "ConditionalQuadratic", "PICNN"]


@dataclass
class PICNNConfig:
    """Shape of a conditional potential: ``layers`` convex layers of ``width`` units; the context path
    has ``context_layers`` layers of ``context_width`` units over ``context`` condition columns."""

    dim: int
    context: int
    layers: int = 2
    width: int = 64
    context_layers: int = 2
    context_width: int = 32
    neural_init: float = 0.1


class ContextPath(nn.Module):
    """u₀ = c, u_{k+1} = SiLU(W u_k + b): free (non-convex) features of the condition, (B, m) → [(B, w)]."""

    def __init__(self, context: int, width: int, layers: int) -> None:
        super().__init__()
        with warnings.catch_warnings():  # no condition columns left (all constant): the first layer is a bias
            warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
            self.layers = nn.ModuleList(nn.Linear(context if i == 0 else width, width) for i in range(layers))

    def forward(self, c: Tensor) -> list[Tensor]:
        feats, u = [], c
        for layer in self.layers:
            u = F.silu(layer(u))
            feats.append(u)
        return feats


class ConditionalQuadratic(nn.Module):
    """``½ Σⱼ Dⱼ(c) ((xL)ⱼ)² + b(c)ᵀx``: an affine map A(c)x + b(c) with A(c) = L D(c) Lᵀ ⪰ 0.

    D(c) = exp(s(u)) with s bounded in (−2, 2) and zero at init; b(c) = b₀ + B c + t(u) with t zero at init.
    """

    def __init__(self, dim: int, context: int, context_width: int) -> None:
        super().__init__()
        self.L = nn.Parameter(torch.eye(dim))
        self.b = nn.Parameter(torch.zeros(dim))
        self.B = nn.Parameter(torch.zeros(dim, context))
        self.log_scale = nn.Linear(context_width, dim)
        self.shift = nn.Linear(context_width, dim)
        for lin in (self.log_scale, self.shift):
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def set_map(self, A: Tensor, b: Tensor, B: Tensor | None = None) -> None:
        """Start at x ↦ A x + b + B c (A symmetric positive definite, B of shape (d, m))."""
        with torch.no_grad():
            self.L.copy_(torch.linalg.cholesky(A.to(self.L)))
            self.b.copy_(b.to(self.b))
            if B is not None:
                self.B.copy_(B.to(self.B))

    def matrix(self) -> Tensor:
        """L Lᵀ (the map's matrix at D = 1; the conjugate's preconditioner)."""
        return self.L @ self.L.T

    def forward(self, x: Tensor, c: Tensor, u: Tensor) -> Tensor:
        xl = x @ self.L                                           # (B, d)
        scale = torch.exp(2.0 * torch.tanh(self.log_scale(u)))    # (B, d), in (e⁻², e²)
        shift = self.b + c @ self.B.T + self.shift(u)             # (B, d)
        return 0.5 * (scale * xl * xl).sum(-1) + (x * shift).sum(-1)


class PICNN(nn.Module):
    """Conditional convex potential ``g(x, c) = quadratic(x, c) + |γ| aᵀ z_K(x, c)`` with a ≥ 0.

    Convex path: z₁ = σ(W₀(x ∘ v₀(u₀)) + C₀u₀ + d₀),
    z_{k+1} = σ(P_k(z_k ∘ softplus(G_k u_k)) + W_k(x ∘ v_k(u_k)) + C_k u_k + d_k), P_k ≥ 0,
    σ = zeroed softplus (convex, non-decreasing); u_k the context features (u₀ the first of them).
    """

    def __init__(self, config: PICNNConfig) -> None:
        super().__init__()
        self.config = c = config
        self.context = ContextPath(c.context, c.context_width, max(c.context_layers, 1))
        self.quadratic = ConditionalQuadratic(c.dim, c.context, c.context_width)
        self.skips = nn.ModuleList(nn.Linear(c.dim, c.width) for _ in range(c.layers))
        self.x_gates = nn.ModuleList(nn.Linear(c.context_width, c.dim) for _ in range(c.layers))
        self.u_bias = nn.ModuleList(nn.Linear(c.context_width, c.width) for _ in range(c.layers))
        self.z_gates = nn.ModuleList(nn.Linear(c.context_width, c.width) for _ in range(c.layers - 1))
        self.hidden = nn.ModuleList(PositiveLinear(c.width, c.width) for _ in range(c.layers - 1))
        self.readout = PositiveLinear(c.width, 1)
        self.gain = nn.Parameter(torch.tensor(float(c.neural_init)))
        for skip in self.skips:  # as in the ICNN: pre-activations of std ~2 on standardised data
            nn.init.normal_(skip.weight, std=2.0 / math.sqrt(c.dim))
            nn.init.uniform_(skip.bias, -1.0, 1.0)
        for gate in self.x_gates:  # x ∘ (1 + small(u)): starts as the plain input
            nn.init.zeros_(gate.weight)
            nn.init.ones_(gate.bias)

    def _features(self, c: Tensor) -> list[Tensor]:
        feats = self.context(c)
        return feats + [feats[-1]] * (self.config.layers - len(feats))  # reuse the last if the path is shorter

    def neural(self, x: Tensor, c: Tensor, feats: list[Tensor] | None = None) -> Tensor:
        """The non-quadratic part, shape (B,)."""
        u = self._features(c) if feats is None else feats
        z = None
        for k in range(self.config.layers):
            pre = self.skips[k](x * self.x_gates[k](u[k])) + self.u_bias[k](u[k])
            if z is not None:
                pre = pre + self.hidden[k - 1](z * F.softplus(self.z_gates[k - 1](u[k])))
            z = zeroed_softplus(pre)                                  # (B, W)
        return self.gain.abs() * self.readout(z).squeeze(-1)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        """Potential values, shape (B,) for x (B, d) and c (B, m)."""
        feats = self._features(c)
        return self.quadratic(x, c, feats[-1]) + self.neural(x, c, feats)

    def grad(self, x: Tensor, c: Tensor, create_graph: bool = False) -> Tensor:
        """∇ₓg(x, c), shape (B, d); the condition is held fixed (not differentiated)."""
        with torch.enable_grad():
            x = x if x.requires_grad else x.detach().requires_grad_(True)
            out = self.forward(x, c).sum()
            (g,) = torch.autograd.grad(out, x, create_graph=create_graph)
        return g

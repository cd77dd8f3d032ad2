"""Batched L-BFGS for the convex conjugate: ŷ(x) = argmin_y f(y) − ⟨x, y⟩, one small problem per sample.

Why: the dual's f-gradient is exact only at the argmin. The preconditioned gradient steps of
`dual.solve_conjugate` use one fixed matrix (the amortiser's quadratic, the Gaussian map) as the inverse
Hessian; once f's neural part bends the potential that guess is off, the steps stall and f starts to
exploit the unsolved conjugate (its loss drops while the map degrades). L-BFGS learns each sample's
curvature from its own last steps, at the same cost per iteration (one ∇f on the batch).

Every sample carries its own memory (s, t pairs), step size and line search state; the Armijo test
is per sample, and a sample whose trial fails keeps its point and halves its step (no extra ∇f
evaluations: one per iteration for the whole batch). Nothing is differentiated through.

References:
    Nocedal & Wright, Numerical Optimization (2006), Alg. 7.4 (two-loop recursion).
    Amos, On amortizing convex conjugates for optimal transport (2023): L-BFGS fine-tuning of the amortised ŷ.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .dual import solve_conjugate

__all__ = ["value_and_grad", "lbfgs_conjugate", "refine_conjugate", "METHODS"]

METHODS = ("gd", "lbfgs")


def value_and_grad(f: torch.nn.Module, y: Tensor) -> tuple[Tensor, Tensor]:
    """f(y) (B,) and ∇f(y) (B, d), both detached."""
    with torch.enable_grad():
        y = y.detach().requires_grad_(True)
        val = f(y)
        (g,) = torch.autograd.grad(val.sum(), y)
    return val.detach(), g.detach()


def _direction(grad: Tensor, S: Tensor, T: Tensor, rho: Tensor, precond: Tensor) -> Tensor:
    """−H·grad by the two-loop recursion; H₀ = γ·P with γ = ⟨s, t⟩/⟨t, P t⟩ of the newest pair (per sample).

    S, T: (B, m, d) step and gradient-difference pairs, oldest first; rho: (B, m), 0 where a slot is empty.
    """
    q = grad.clone()
    m = S.shape[1]
    alpha = []
    for i in range(m - 1, -1, -1):
        a = rho[:, i] * (S[:, i] * q).sum(-1)
        q = q - a[:, None] * T[:, i]
        alpha.append(a)
    Pt = T[:, -1] @ precond
    tPt = (T[:, -1] * Pt).sum(-1)
    st = (S[:, -1] * T[:, -1]).sum(-1)
    gamma = torch.where((rho[:, -1] > 0) & (tPt > 0), st / tPt.clamp(min=1e-30), torch.ones_like(st))
    r = gamma[:, None] * (q @ precond)
    for i, a in zip(range(m), reversed(alpha)):
        b = rho[:, i] * (T[:, i] * r).sum(-1)
        r = r + (a - b)[:, None] * S[:, i]
    return -r


def lbfgs_conjugate(f: torch.nn.Module, x: Tensor, y0: Tensor, precond: Tensor, steps: int, memory: int = 5,
                    c1: float = 1e-4) -> tuple[Tensor, Tensor]:
    """Refine ŷ ≈ argmin_y f(y) − ⟨x, y⟩ from y0 by `steps` batched L-BFGS iterations.

    Returns (ŷ, ‖∇f(ŷ) − x‖²) like `dual.solve_conjugate`, so the two are interchangeable.
    `precond` (d, d) is the initial inverse-Hessian guess (the amortiser's quadratic).
    """
    y = y0.detach()
    B, d = y.shape
    val, grad = value_and_grad(f, y)
    obj = val - (x * y).sum(-1)
    res = grad - x
    S = y.new_zeros(B, memory, d)
    T = y.new_zeros(B, memory, d)
    rho = y.new_zeros(B, memory)
    eta = y.new_ones(B)
    for _ in range(steps):
        p = _direction(res, S, T, rho, precond)
        slope = (res * p).sum(-1)
        p = torch.where((slope < 0)[:, None], p, -(res @ precond))       # not a descent direction: fall back
        slope = (res * p).sum(-1)
        y_try = y + eta[:, None] * p
        val_t, grad_t = value_and_grad(f, y_try)
        obj_t = val_t - (x * y_try).sum(-1)
        res_t = grad_t - x
        # Armijo, or (when f's values no longer resolve the decrease in float32) a halved residual
        ok = (obj_t <= obj + c1 * eta * slope) | ((res_t * res_t).sum(-1) < 0.25 * (res * res).sum(-1))
        s, t = y_try - y, res_t - res
        st = (s * t).sum(-1)
        keep = ok & (st > 1e-10 * (s * s).sum(-1).clamp(min=1e-30))   # curvature condition for the memory
        S = torch.where(keep[:, None, None], torch.cat([S[:, 1:], s[:, None]], 1), S)
        T = torch.where(keep[:, None, None], torch.cat([T[:, 1:], t[:, None]], 1), T)
        rho = torch.where(keep[:, None], torch.cat([rho[:, 1:], 1.0 / st.clamp(min=1e-30)[:, None]], 1), rho)
        y = torch.where(ok[:, None], y_try, y)
        res = torch.where(ok[:, None], res_t, res)
        obj = torch.where(ok, obj_t, obj)
        eta = torch.where(ok, torch.ones_like(eta), eta * 0.5)
    return y.detach(), (res * res).sum(-1).detach()


def refine_conjugate(f: torch.nn.Module, x: Tensor, y0: Tensor, precond: Tensor, steps: int, method: str = "gd",
                     step_size: float = 1.0) -> tuple[Tensor, Tensor]:
    """The conjugate refinement by name: ``gd`` (preconditioned steps, `dual.solve_conjugate`) or ``lbfgs``."""
    if method == "lbfgs":
        return lbfgs_conjugate(f, x, y0, precond, steps)
    if method == "gd":
        return solve_conjugate(f, x, y0, precond, steps, step_size)
    raise ValueError(f"unknown conjugate solver {method!r} (known: {', '.join(METHODS)})")

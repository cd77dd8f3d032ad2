"""The Kantorovich dual of ½W2² with convex potentials, and the convex conjugate solved per sample.

With f convex on the target side and f*(x) = sup_y ⟨x, y⟩ − f(y) its conjugate,

    ½ W2²(P, Q) = ½E_P‖x‖² + ½E_Q‖y‖² − min_f  J(f),   J(f) = E_Q f(y) + E_P f*(x),

and the Brenier map is T = ∇f* (source → target). f* is evaluated at ŷ(x) = argmax_y ⟨x, y⟩ − f(y):
the second network g amortises it (ŷ ≈ ∇g(x)), a few preconditioned steps refine it. With zero
refinement steps and the ``objective`` g-loss this is exactly the min–max of Makkuva et al.

References:
    Optimal transport mapping via input convex neural networks (Makkuva et al., 2020), arXiv:1908.10962.
    On amortizing convex conjugates for optimal transport (Amos, 2023), arXiv:2210.12153.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .icnn import ICNN

__all__ = ["solve_conjugate", "f_loss", "expectile_loss", "expectile_from_values", "g_loss", "dual_value"]


def solve_conjugate(f: ICNN, x: Tensor, y0: Tensor, precond: Tensor, steps: int, step_size: float = 1.0) -> tuple[Tensor, Tensor]:
    """Refine ŷ ≈ argmin_y f(y) − ⟨x, y⟩ from the warm start y0; returns (ŷ, ‖∇f(ŷ) − x‖²).

    Steps are y ← y − η P (∇f(y) − x) with P ≈ (∇²f)⁻¹ (the g-network's quadratic, a Newton-like
    preconditioner); a sample whose residual grows keeps its previous point and halves its η.
    Nothing is differentiated through: by the envelope theorem ∂J/∂θ_f needs only ŷ.
    """
    y = y0.detach()
    r = f.grad(y) - x                                            # (B, d) residual of the optimality condition
    res = (r * r).sum(-1)                                        # (B,)
    eta = torch.full_like(res, step_size)
    for _ in range(steps):
        y_try = y - eta[:, None] * (r @ precond)
        r_try = f.grad(y_try) - x
        res_try = (r_try * r_try).sum(-1)
        ok = res_try < res
        y = torch.where(ok[:, None], y_try, y)
        r = torch.where(ok[:, None], r_try, r)
        res = torch.where(ok, res_try, res)
        eta = torch.where(ok, torch.clamp(eta * 1.5, max=step_size), eta * 0.5)
    return y.detach(), res.detach()


def f_loss(f: ICNN, y: Tensor, y_hat: Tensor) -> Tensor:
    """E_Q f(y) − E_P f(ŷ(x)): J(f) up to terms free of θ_f (gradient exact when ŷ is the argmax)."""
    return f(y).mean() - f(y_hat).mean()


def expectile_loss(f: ICNN, x: Tensor, y: Tensor, y_hat: Tensor, tau: float) -> Tensor:
    """ENOT's regulariser on f: an asymmetric square of D = [⟨x, y⟩ − f(y)] − [⟨x, ŷ⟩ − f(ŷ)] over batch pairs.

    D > 0 says y beats the (amortised) ŷ(x) in the conjugate's inner problem max_y ⟨x, y⟩ − f(y), i.e.
    f*(x) is underestimated there and the f-loss is exploiting an unsolved conjugate; weighting those
    pairs by τ (≈ 0.99) and the rest by 1 − τ regresses f towards its own c-transform on the batch
    (an upper-expectile bound) without any inner solver.

    References:
        ENOT: Expectile regularization for fast and accurate training of neural optimal transport
        (Buzun, Bobrin, Dylov, NeurIPS 2024), arXiv:2403.03777.
    """
    return expectile_from_values(x, y, y_hat, f(y), f(y_hat), tau)


def expectile_from_values(x: Tensor, y: Tensor, y_hat: Tensor, fy: Tensor, fy_hat: Tensor, tau: float) -> Tensor:
    """`expectile_loss` from the potential's values f(y), f(ŷ) (shared with the dual loss's forward pass)."""
    gain = (x * y).sum(-1) - fy - ((x * y_hat).sum(-1) - fy_hat)   # (B,)
    weight = torch.where(gain.detach() >= 0, tau, 1.0 - tau)
    return (weight * gain * gain).mean()


def g_loss(f: ICNN, x: Tensor, ty: Tensor, y_hat: Tensor | None, kind: str) -> Tensor:
    """Loss of the amortisation ty = ∇g(x) (differentiable in θ_g).

    ``regression``: ‖∇g(x) − ŷ(x)‖² towards the refined conjugate (Amos' regression amortisation).
    ``objective``:  −(⟨x, ∇g(x)⟩ − f(∇g(x))), the inner maximisation of Makkuva et al.
    """
    if kind == "regression":
        if y_hat is None:
            raise ValueError("g_loss='regression' needs the refined conjugate ŷ")
        return ((ty - y_hat) ** 2).sum(-1).mean()
    if kind == "objective":
        return -((x * ty).sum(-1) - f(ty)).mean()
    raise ValueError(f"unknown g_loss {kind!r} (known: regression, objective)")


@torch.no_grad()
def dual_value(f: ICNN, x: Tensor, y: Tensor, y_hat: Tensor) -> dict[str, float]:
    """J(f) and the dual W2² estimate E‖x‖² + E‖y‖² − 2J, in the solver's coordinates."""
    conj = ((x * y_hat).sum(-1) - f(y_hat)).mean()
    J = f(y).mean() + conj
    w2sq = (x * x).sum(-1).mean() + (y * y).sum(-1).mean() - 2 * J
    return {"dual": float(J), "w2sq_dual": float(w2sq)}

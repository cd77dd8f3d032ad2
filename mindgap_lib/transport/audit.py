"""An optimality audit of a fitted map: is it cheap, monotone, a symmetric PD Jacobian, a solved conjugate?

A Brenier map T = ∇φ (φ convex) is characterised by properties that can be checked on samples without
knowing the true map:

1. its transport cost E‖x − T(x)‖² equals W2²(P, Q), and T#P = Q — compared here with exact OT
   (POT ``emd2``) on subsamples, repeated so the spread that the subsample size gives is visible;
2. cyclical monotonicity: Σ_m ⟨T(x_m), x_m − x_{m+1}⟩ ≥ 0 around every cycle (pairs: ⟨T(x_i) − T(x_j), x_i − x_j⟩ ≥ 0);
3. its Jacobian ∇²φ is symmetric and positive semi-definite;
4. for our solver: the conjugate that defines T = ∇f* is actually solved (∇f(T(x)) = x).

Every function returns plain floats so the dict goes straight into ``metrics.json``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import ot
import torch
from torch import Tensor

from .conjugate import refine_conjugate
from .map import TransportMap

__all__ = ["transport_cost_audit", "cyclical_monotonicity", "jacobians", "jacobian_audit", "map_jacobians",
           "conjugate_residuals", "audit_map"]

TorchMap = Callable[[Tensor], Tensor]


def _spread(values: list[float], prefix: str) -> dict[str, float]:
    arr = np.asarray(values, np.float64)
    return {f"{prefix}_mean": float(arr.mean()), f"{prefix}_std": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0}


def _emd2(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(ot.emd2(ot.unif(len(a)), ot.unif(len(b)), ot.dist(a, b), numItermax=10_000_000))


def transport_cost_audit(source: np.ndarray, mapped: np.ndarray, target: np.ndarray, n: int = 1000,
                         repeats: int = 5, seed: int = 0) -> dict[str, float]:
    """The map's cost E‖x − T(x)‖² against exact W2² on `repeats` subsamples of `n` points per side.

    ``cost_*``: the map's mean squared displacement on each source subsample. ``w2sq_emd_*``: exact
    W2² between source and target subsamples (biased upwards at finite n). ``pushforward_w2sq_*``:
    exact W2² between T(x) and the target subsample, next to ``floor_w2sq_*`` between two target
    subsamples (what a perfect map would get at this n). An optimal map has cost ≈ W2² and
    push-forward ≈ floor; ``cost_minus_w2sq_*`` is the per-repeat difference (paired, less noisy).
    """
    rng = np.random.default_rng(seed)
    if len(target) < 2 * n:
        raise ValueError(f"transport_cost_audit: need >= 2n = {2 * n} target points, got {len(target)}")
    rows = {k: [] for k in ("cost", "w2sq_emd", "cost_minus_w2sq", "pushforward_w2sq", "floor_w2sq")}
    for _ in range(repeats):
        i = rng.choice(len(source), n, replace=False)
        j = rng.permutation(len(target))
        ta, tb = target[j[:n]], target[j[n:2 * n]]
        cost = float(((np.asarray(source[i], np.float64) - mapped[i]) ** 2).sum(1).mean())
        w2sq = _emd2(source[i], ta)
        rows["cost"].append(cost)
        rows["w2sq_emd"].append(w2sq)
        rows["cost_minus_w2sq"].append(cost - w2sq)
        rows["pushforward_w2sq"].append(_emd2(mapped[i], ta))
        rows["floor_w2sq"].append(_emd2(tb, ta))
    out = {"n": float(n), "repeats": float(repeats)}
    for key, vals in rows.items():
        out |= _spread(vals, key)
    return out


def cyclical_monotonicity(x: np.ndarray, tx: np.ndarray, samples: int = 20000, lengths: tuple[int, ...] = (2, 3),
                          tol: float = 1e-6, seed: int = 0) -> dict[str, float]:
    """Fraction of random cycles (x_1 … x_k) with Σ_m ⟨T(x_m), x_m − x_{m+1}⟩ < −tol·scale.

    For k = 2 this is the monotonicity ⟨T(x_i) − T(x_j), x_i − x_j⟩ ≥ 0. ``scale`` is the typical
    |term| (mean of |⟨T(x_m), x_m − x_{m+1}⟩|), so float32 round-off is not a violation. Also returns
    the mean violation depth relative to that scale (0 when there are none).
    """
    rng = np.random.default_rng(seed)
    x, tx = np.asarray(x, np.float64), np.asarray(tx, np.float64)
    out: dict[str, float] = {}
    for k in lengths:
        idx = rng.integers(len(x), size=(samples, k))
        nxt = np.roll(idx, -1, axis=1)
        terms = (tx[idx] * (x[idx] - x[nxt])).sum(-1)          # (samples, k)
        total = terms.sum(1)
        scale = float(np.abs(terms).mean()) or 1.0
        distinct = (idx != nxt).all(1)
        bad = (total < -tol * scale) & distinct
        out[f"cm{k}_violation_fraction"] = float(bad.sum() / max(1, distinct.sum()))
        out[f"cm{k}_violation_depth"] = float((-total[bad]).mean() / scale) if bad.any() else 0.0
    return out


def jacobians(fn: TorchMap, x: Tensor) -> Tensor:
    """Per-sample Jacobians (n, d_out, d_in) of a differentiable batch map, one backward pass per output."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        y = fn(x)
        rows = [torch.autograd.grad(y[:, i].sum(), x, retain_graph=i < y.shape[1] - 1)[0] for i in range(y.shape[1])]
    return torch.stack(rows, dim=1).detach()


def jacobian_audit(J: Tensor, tol: float = 1e-6) -> dict[str, float]:
    """Symmetry and definiteness of Jacobians (n, d, d): what distinguishes ∇φ (φ convex) from other maps.

    ``jac_asym_rel_*``: ‖J − Jᵀ‖_F / (‖J‖_F + ‖Jᵀ‖_F) (0 for a gradient map, 1 for a pure rotation
    generator); ``jac_min_eig_*``: smallest eigenvalue of the symmetric part (J + Jᵀ)/2 relative to
    its largest |eigenvalue|; ``jac_negative_fraction``: points where it is below −tol.
    """
    J = J.double()
    asym = torch.linalg.matrix_norm(J - J.transpose(1, 2)) / (2 * torch.linalg.matrix_norm(J)).clamp(min=1e-300)
    eig = torch.linalg.eigvalsh(0.5 * (J + J.transpose(1, 2)))          # ascending
    rel_min = eig[:, 0] / eig.abs().max(1).values.clamp(min=1e-300)
    return {"jac_points": float(len(J)), "jac_asym_rel_mean": float(asym.mean()), "jac_asym_rel_max": float(asym.max()),
            "jac_min_eig_rel_min": float(rel_min.min()), "jac_min_eig_rel_median": float(rel_min.median()),
            "jac_negative_fraction": float((rel_min < -tol).double().mean())}


def _solver_inputs(tmap: TransportMap, x: np.ndarray) -> Tensor:
    u = tmap._to_solver(np.asarray(x, np.float32))
    return torch.from_numpy(np.ascontiguousarray(u)).to(tmap.device)


def _refine(tmap: TransportMap, u: Tensor, y0: Tensor, steps: int) -> tuple[Tensor, Tensor]:
    return refine_conjugate(tmap.f, u, y0, tmap.g.quadratic.matrix().detach(), steps, tmap.config.get("conj_solver", "gd"),
                            float(tmap.config.get("conj_step_size", 1.0)))


def map_jacobians(tmap: TransportMap, x: np.ndarray, refine: int | None = None) -> Tensor:
    """Jacobians of `tmap.transport` at x in the solver's coordinates (the scaler is an isotropic similarity
    there, so symmetry and definiteness carry over to original coordinates; a diagonal scale does not).

    Reverse solve (T = ∇f): ∇²f(u). Bare map (refine=0): ∇²g(u). Refined map ∇f*: by the implicit
    function theorem (∇²f(ŷ))⁻¹ at the refined ŷ, exact when the conjugate is solved (`conjugate_residuals`).
    """
    steps = int(tmap.config.get("map_refine_steps", 0)) if refine is None else int(refine)
    u = _solver_inputs(tmap, x)
    if tmap.reverse:
        return jacobians(lambda v: tmap.f.grad(v, create_graph=True), u)
    if steps == 0:
        return jacobians(lambda v: tmap.g.grad(v, create_graph=True), u)
    y0 = tmap.g.grad(u)
    y, _ = _refine(tmap, u, y0, steps)
    H = jacobians(lambda v: tmap.f.grad(v, create_graph=True), y)
    return torch.linalg.inv(0.5 * (H + H.transpose(1, 2)).double()).float()


def conjugate_residuals(tmap: TransportMap, x: np.ndarray, refine: int | None = None) -> dict[str, float]:
    """Per-sample ‖∇f(ŷ) − u‖² of the map's own refinement (solver coordinates) and the amortisation gap
    ‖∇g(u) − ŷ‖²: a large residual means T(x) is not ∇f*(x) there, and f's dual objective was biased.
    For a reverse solve pass *target* points: there the conjugate is the inverse map's."""
    steps = int(tmap.config.get("map_refine_steps", 0)) if refine is None else int(refine)
    u = _solver_inputs(tmap, x)
    y0 = tmap.g.grad(u)
    y, res = _refine(tmap, u, y0, max(steps, 1))
    gap = ((y - y0.detach()) ** 2).sum(-1)
    q = lambda t, p: float(torch.quantile(t.double(), p))  # noqa: E731
    return {"conj_residual_mean": float(res.mean()), "conj_residual_median": q(res, 0.5), "conj_residual_p95": q(res, 0.95),
            "conj_residual_max": float(res.max()), "amortization_gap_mean": float(gap.mean()),
            "amortization_gap_p95": q(gap, 0.95), "conj_refine_steps": float(max(steps, 1))}


def audit_map(tmap: TransportMap, source: np.ndarray, target: np.ndarray, n_emd: int = 1000, repeats: int = 5,
              n_jacobian: int = 256, n_cycles: int = 20000, seed: int = 0,
              mapped: np.ndarray | None = None) -> dict[str, float]:
    """All four checks on a fitted `TransportMap` (source → target samples, ideally held out); pass
    `mapped` = ``tmap.transport(source)`` when it is already at hand.

    Costs and monotonicity are measured in the solver's coordinates (`TransportMap._to_solver`), the
    metric the map is optimal for: with ``standardize="diagonal"`` and a subspace that is the target's
    whitened principal coordinates (a Mahalanobis cost), where a map optimal for it need not be
    monotone in the raw Euclidean inner product; isotropic coordinates only rescale the costs.
    """
    rng = np.random.default_rng(seed)
    source, target = np.asarray(source, np.float32), np.asarray(target, np.float32)
    mapped = tmap.transport(source) if mapped is None else np.asarray(mapped, np.float32)
    us, um, ut = (tmap._to_solver(a) for a in (source, mapped, target))
    out = transport_cost_audit(us, um, ut, n=min(n_emd, len(target) // 2, len(source)), repeats=repeats, seed=seed)
    out |= cyclical_monotonicity(us, um, samples=n_cycles, seed=seed)
    pts = source[rng.choice(len(source), min(n_jacobian, len(source)), replace=False)]
    out |= jacobian_audit(map_jacobians(tmap, pts))
    conj_pts = target[rng.choice(len(target), min(n_jacobian, len(target)), replace=False)] if tmap.reverse else pts
    out |= conjugate_residuals(tmap, conj_pts)
    return out

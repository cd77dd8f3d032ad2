"""Calibrations that move the jets: transport maps on the latent (then the frozen head) or on the logits.

* ``identity``: nothing moved (the uncalibrated baseline).
* ``icnn``: ours, the ICNN Brenier map on the first head layer (:func:`~mindgap_lib.transport.fitting.fit`).
* ``bures``: its linear part alone, the Gaussian map between the moments.
* ``output_icnn``: an ICNN map on the ten logits, pushed through nothing: the calibration of the
  tagger's output as an experiment would make it without access to the latent.
* ``flows4flows``: the morphing flow of Klein, Raine & Golling on the latent.
* ``emd``: exact discrete OT between subsamples (:func:`ot.emd`), the reference for the transport
  cost. For equal subsamples the plan is a permutation, so its barycentric projection sends each
  source jet to its matched target jet; a jet outside the subsample moves by the mean displacement
  of its ``emd_neighbours`` nearest subsample jets (in the map's standardised frame).

References:
    Computational Optimal Transport (Peyré, Cuturi, 2019), arXiv:1803.00567 (Sec. 3, discrete OT).
    Flows for flows (Klein, Raine, Golling, 2022), arXiv:2211.02487.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...transport.conditional_map import make_frame
from ...transport.fitting import fit
from ...transport.flows4flows import fit_flows4flows
from ...transport.linear import fit_linear
from .base import Arrays, Calibration, MethodContext, latent_result, timed

__all__ = ["identity", "icnn", "bures", "output_icnn", "flows4flows", "emd", "discrete_ot_map"]


@timed
def identity(source_fit: Arrays, target_fit: Arrays, source_eval: Arrays, ctx: MethodContext) -> Calibration:
    """The source as it is: what every calibration has to beat."""
    layers = ctx.layers
    arrays = {k: np.asarray(source_eval[k]) for k in (layers.z, layers.penultimate, layers.logits)}
    return Calibration(arrays, cost=0.0, moved=layers.z)


def _fit_cfg(ctx: MethodContext, n: int):
    """The [transport] section, with a batch no larger than the fit rows allow."""
    cfg = ctx.transport
    limit = int(n * (1 - cfg.val_fraction)) - 1
    return cfg if cfg.batch_size <= limit else cfg.replace(batch_size=max(8, limit))


@timed
def icnn(source_fit: Arrays, target_fit: Arrays, source_eval: Arrays, ctx: MethodContext) -> Calibration:
    """The ICNN map on the first head layer (the prefitted one when given), then the frozen head."""
    z = ctx.layers.z
    tmap = ctx.prefit.get("icnn")
    if tmap is None:
        n = min(len(source_fit[z]), len(target_fit[z]))
        tmap = fit(source_fit[z], target_fit[z], _fit_cfg(ctx, n), seed=ctx.seed, device=ctx.device, progress=False)
    return latent_result(source_eval[z], tmap.transport(source_eval[z]), ctx, prefit="icnn" in ctx.prefit)


@timed
def bures(source_fit: Arrays, target_fit: Arrays, source_eval: Arrays, ctx: MethodContext) -> Calibration:
    """The Gaussian (Bures) map between the fit rows' moments, in the same principal span as the ICNN."""
    z = ctx.layers.z
    lmap = fit_linear(source_fit[z], target_fit[z], ctx.transport.subspace_tol)
    return latent_result(source_eval[z], lmap.transport(source_eval[z]), ctx)


@timed
def output_icnn(source_fit: Arrays, target_fit: Arrays, source_eval: Arrays, ctx: MethodContext) -> Calibration:
    """An ICNN map fitted on the logits; the calibrated output is the moved logits, nothing else."""
    lg = ctx.layers.logits
    n = min(len(source_fit[lg]), len(target_fit[lg]))
    cfg = _fit_cfg(ctx, n).replace(steps=ctx.methods.output_steps, init=ctx.methods.output_init)
    tmap = fit(source_fit[lg], target_fit[lg], cfg, seed=ctx.seed, device=ctx.device, progress=False)
    moved = tmap.transport(source_eval[lg]).astype(np.float32)
    cost = float(np.sqrt(((moved.astype(np.float64) - source_eval[lg]) ** 2).sum(1).mean()))
    return Calibration({lg: moved}, cost=cost, moved=lg)


@timed
def flows4flows(source_fit: Arrays, target_fit: Arrays, source_eval: Arrays, ctx: MethodContext) -> Calibration:
    """The flows-for-flows morph (unconditional) on the first head layer, then the frozen head."""
    z = ctx.layers.z
    morph = fit_flows4flows(source_fit[z], target_fit[z], ctx.methods.flows, seed=ctx.seed, device=ctx.device)
    return latent_result(source_eval[z], morph.transport(source_eval[z]), ctx)


def _emd(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, float]:
    """The optimal plan between two uniform point clouds and its W2 (squared Euclidean cost)."""
    import ot

    cost = ot.dist(u, v)
    plan = ot.emd(ot.unif(len(u)), ot.unif(len(v)), cost, numItermax=10_000_000)
    return plan, float(np.sqrt(max((plan * cost).sum(), 0.0)))


def discrete_ot_map(source: np.ndarray, target: np.ndarray, points: int, neighbours: int, subspace_tol: float,
                    seed: int = 0) -> tuple[Any, dict[str, float]]:
    """Exact OT between ≤ `points` jets of each sample: (map function, its W2 numbers).

    The W2 of a plan between finite samples is biased upwards (in many dimensions, strongly): the
    numbers hold ``w2_plan`` (source → target), ``w2_floor`` (between two target subsamples of the same
    size, disjoint where the target is large enough) and ``w2_excess`` = √max(plan² − floor², 0).
    """
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(seed)
    n = min(points, len(source), len(target) // 2 if len(target) >= 2 * min(points, len(source)) else len(target))
    xs = source[rng.choice(len(source), n, replace=False)]
    pick = rng.permutation(len(target))
    other = pick[n:2 * n] if len(target) >= 2 * n else rng.choice(len(target), n, replace=False)
    ys, ys2 = target[pick[:n]], target[other]
    frame = make_frame(xs, ys, subspace_tol)
    u, v = frame.x(xs).astype(np.float64), frame.x(ys).astype(np.float64)
    plan, w2 = _emd(u, v)
    _, floor = _emd(frame.x(ys2).astype(np.float64), v)
    disp = (plan @ v) / plan.sum(1, keepdims=True) - u                # barycentric projection of the plan, minus x
    unit = float(frame.scale[0])                                      # isotropic: back to latent units
    numbers = {"w2_plan": w2 * unit, "w2_floor": floor * unit,
               "w2_excess": float(np.sqrt(max(w2**2 - floor**2, 0))) * unit}
    nn = NearestNeighbors(n_neighbors=min(neighbours, len(u))).fit(u)

    def transport(x: np.ndarray) -> np.ndarray:
        ux = frame.x(x).astype(np.float64)
        idx = nn.kneighbors(ux, return_distance=False)
        return frame.back((ux + disp[idx].mean(1)).astype(np.float32), np.asarray(x, np.float32))

    return transport, numbers


@timed
def emd(source_fit: Arrays, target_fit: Arrays, source_eval: Arrays, ctx: MethodContext) -> Calibration:
    """Exact discrete OT on subsamples of the fit rows, extended to the eval rows by nearest neighbours."""
    z, m = ctx.layers.z, ctx.methods
    transport, numbers = discrete_ot_map(source_fit[z], target_fit[z], m.emd_points, m.emd_neighbours,
                                         ctx.transport.subspace_tol, ctx.seed)
    return latent_result(source_eval[z], transport(source_eval[z]), ctx, **numbers)

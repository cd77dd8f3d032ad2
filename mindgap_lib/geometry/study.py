"""Chapter 07's study in one call: dim(Q) of the latents and of the jets, Sinkhorn against exact EMD,
and the map's displacement against the local dimension. Returns plain data for ``geometry.json``."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..util.seeds import derive_seed
from .config import GeometryConfig
from .correlation import CorrelationDimension, correlation_dimension, pair_distances, q_grid
from .displacement import displacement_by_local_dimension
from .emd import pairwise_emd, sinkhorn_vs_exact
from .local_dim import local_dimension

__all__ = ["SCALE_QUANTILES", "latent_dimensions", "jet_dimension", "at_scales", "transport_link", "geometry_study"]

SCALE_QUANTILES = (0.01, 0.1, 0.5)  # the scales quoted in metrics.json: quantiles of the reference's pair distances


def _subsample(x: np.ndarray, n: int, seed: int) -> np.ndarray:
    return x if len(x) <= n else x[np.sort(np.random.default_rng(seed).choice(len(x), n, replace=False))]


def latent_dimensions(samples: Mapping[str, np.ndarray], cfg: GeometryConfig, reference: str,
                      seed: int = 0) -> tuple[np.ndarray, dict[str, CorrelationDimension]]:
    """dim(Q) of each sample on one Q grid, and the scales of :data:`SCALE_QUANTILES`, both read off
    the `reference` sample's pair distances."""
    pts = {k: _subsample(np.asarray(v, np.float64), cfg.points, derive_seed(seed, "geometry", k)) for k, v in samples.items()}
    dist = pair_distances(pts[reference])
    q = q_grid(dist, cfg.q_lo, cfg.q_hi, cfg.q_num)
    scales = np.quantile(dist, SCALE_QUANTILES)
    return scales, {k: correlation_dimension(v, q=q, n_boot=cfg.n_boot, max_points=cfg.points, seed=seed)
                    for k, v in pts.items()}


def jet_dimension(jets: Sequence[np.ndarray], cfg: GeometryConfig, n: int,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray, CorrelationDimension]:
    """dim(Q) of `n` jets in EMD space (exact EMD, pT-normalised weights, ΔR/R ground distance); also
    returns the EMD matrix and the scales of :data:`SCALE_QUANTILES`."""
    d = pairwise_emd(list(jets[:n]))
    dist = d[np.triu_indices(len(d), 1)]
    q = q_grid(dist, max(cfg.q_lo, 5e-3), cfg.q_hi, cfg.q_num)
    return d, np.quantile(dist, SCALE_QUANTILES), correlation_dimension(distances=d, q=q, n_boot=cfg.n_boot, seed=seed)


def at_scales(cd: CorrelationDimension, scales: Sequence[float]) -> dict[str, dict[str, float]]:
    """dim(Q) ± error at the given scales (NaN where the grid has no estimate)."""
    out = {}
    for qq, scale in zip(SCALE_QUANTILES, scales):
        try:
            value, err = cd.at(float(scale))
        except ValueError:
            value, err = float("nan"), float("nan")
        out[f"q{qq:g}"] = {"Q": float(scale), "dim": value, "err": err}
    return out


def transport_link(z: np.ndarray, tz: np.ndarray, residual: np.ndarray | None, cfg: GeometryConfig,
                   seed: int = 0) -> dict[str, Any]:
    """Displacement ‖T(z) − z‖ and the discriminator's residual per bin of the local dimension of z."""
    rows = np.sort(np.random.default_rng(derive_seed(seed, "link")).choice(len(z), min(len(z), 3 * cfg.points),
                                                                            replace=False))
    ld = local_dimension(z[rows], k=cfg.local_k)
    summary = displacement_by_local_dimension(z[rows], tz[rows], ld.dim,
                                              residual=None if residual is None else residual[rows])
    return {"local": {"global_dim": ld.global_dim, "global_err": ld.global_err}, **summary.as_dict()}


def geometry_study(latents: Mapping[str, np.ndarray], jets: Sequence[np.ndarray],
                   class_latents: Mapping[str, np.ndarray], class_jets: Mapping[str, Sequence[np.ndarray]],
                   residual: np.ndarray | None, cfg: GeometryConfig, seed: int = 0) -> dict[str, Any]:
    """Everything chapter 07 plots, as plain data.

    Arguments:
        latents: ``source``, ``target``, ``calibrated`` latents (eval rows; calibrated row i is T(source row i)).
        jets: calibration QCD jets as (pt, Δη, Δφ) arrays; class_latents / class_jets: per tagger class.
        residual: per source row, |log p_target/p_calibrated| from the cross-fitted discriminator (or None).
    """
    scales, lat = latent_dimensions(latents, cfg, "target", seed)
    cls = latent_dimensions(class_latents, cfg, next(iter(class_latents)), seed)[1] if class_latents else {}
    d_jets, jet_scales, cd_jets = jet_dimension(jets, cfg, cfg.emd_jets, seed)
    cls_jets = {c: jet_dimension(j, cfg, cfg.emd_class_jets, seed)[2] for c, j in class_jets.items()}
    half = min(cfg.sinkhorn_pairs, len(jets) // 2)
    sinkhorn = sinkhorn_vs_exact(list(jets[:half]), list(jets[half:2 * half]), list(cfg.sinkhorn_eps))
    link = transport_link(latents["source"], latents["calibrated"], residual, cfg, seed)
    summary = {**{k: at_scales(v, scales) for k, v in lat.items()}, "jets_emd": at_scales(cd_jets, jet_scales)}
    return {"latents": {k: v.as_dict() for k, v in lat.items()}, "classes": {k: v.as_dict() for k, v in cls.items()},
            "jets": cd_jets.as_dict(), "class_jets": {k: v.as_dict() for k, v in cls_jets.items()},
            "sinkhorn": sinkhorn, "link": link, "correlation_dimension": summary,
            "emd_median": float(np.median(d_jets[np.triu_indices(len(d_jets), 1)]))}

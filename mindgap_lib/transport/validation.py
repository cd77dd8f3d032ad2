"""The known-map check: fit each known pair and compare with its exact Brenier map (chapter 03)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..util.atomic import atomic_write_json
from ..util.parallel import side_by_side
from ..util.seeds import derive_seed
from .config import KnownMapsConfig, TransportConfig
from .fitting import fit
from .init import gaussian_map_from_samples
from .known_maps import KnownPair, make_pair
from .map import TransportMap
from .metrics import l2_uvp, sinkhorn_divergence, w2_exact

__all__ = ["KnownMapResult", "check_known_map", "fit_known_maps", "load_known_maps"]


@dataclass
class KnownMapResult:
    """One row of the validation table, plus what is needed to draw it."""

    row: dict[str, Any]
    tmap: TransportMap
    pair: KnownPair
    source: np.ndarray
    target: np.ndarray


def check_known_map(name: str, dim: int, cfg: TransportConfig, samples: int, seed: int = 0,
                    progress: bool = False) -> KnownMapResult:
    """Fit pair `name` in `dim` dimensions with `samples` per side and the solver `cfg`.

    The row holds the L2-UVP (%) of the identity, of the Gaussian map from the moments, of the fit
    (refined ∇f* and bare ∇g), exact W2 on subsamples and Sinkhorn divergences to the target for the
    fit and for the true map, and the training time.
    """
    pair = make_pair(name, dim, seed=seed)
    x, y = _samples(pair, samples, seed)
    xt = pair.sample_source(min(5000, samples), np.random.default_rng(derive_seed(seed, "known-map test", name, dim)))
    xt = xt.astype(np.float32)
    tx = pair.true_map(xt)
    A, b = gaussian_map_from_samples(x, y)
    t0 = time.perf_counter()
    tmap = fit(x, y, cfg, seed=seed, progress=progress)
    seconds = time.perf_counter() - t0
    mapped = tmap.transport(xt)
    row = {"pair": name, "dim": dim, "samples": samples, "steps": cfg.steps, "lr": cfg.lr,
           "l2_uvp_identity": l2_uvp(xt, tx, y), "l2_uvp_gaussian": l2_uvp(xt @ A.T + b, tx, y),
           "l2_uvp": l2_uvp(mapped, tx, y), "l2_uvp_bare_grad_g": l2_uvp(tmap.transport(xt, refine=0), tx, y),
           "w2_emd_fit": w2_exact(mapped, y, n=1000), "w2_emd_true": w2_exact(tx, y, n=1000),
           "sinkhorn_fit": sinkhorn_divergence(mapped, y, n=500), "sinkhorn_true": sinkhorn_divergence(tx, y, n=500),
           "train_time_s": seconds}
    return KnownMapResult(row, tmap, pair, x, y)


def _samples(pair: KnownPair, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    return pair.samples(n, seed=derive_seed(seed, "known-map samples"))


def fit_known_maps(km: KnownMapsConfig, cfg: TransportConfig, out: str | os.PathLike,
                   pairs: tuple[str, ...] = ("gaussian", "ridge"), seed: int = 0, workers: int | None = None) -> Path:
    """`check_known_map` for every pair and every dimension of `km`, up to `workers` (default
    ``km.workers``) fits side by side, each with ``km.steps`` batches of the solver `cfg` (isotropic coordinates, no
    subspace) at learning rate ``km.lr`` (the solver's own when 0).

    Writes each map (``maps/<pair>-<dim>/``) and the rows (``rows.json``). A pair holds closures
    that do not pickle, so each fit saves its own map and hands back only its row;
    :func:`load_known_maps` rebuilds the rest. The rows do not depend on `workers`.
    """
    out = Path(out)
    # a known pair's answer is the Euclidean Brenier map; a per-direction scale (standardize="diagonal", PCA
    # whitening on latents) would solve for another cost, so the check runs the solver in isotropic coordinates
    solver = cfg.replace(steps=km.steps, lr=km.lr or cfg.lr, standardize="isotropic", subspace_tol=0.0)
    calls = [((name, int(d), solver, km.samples, seed, str(out)), {}) for name in pairs for d in km.dims]
    rows = side_by_side(_check_and_save, calls, km.workers if workers is None else workers)
    atomic_write_json(out / "rows.json", rows, default=float, sort_keys=False)
    return out


def _check_and_save(name: str, dim: int, cfg: TransportConfig, samples: int, seed: int, out: str) -> dict[str, Any]:
    r = check_known_map(name, dim, cfg, samples, seed)
    r.tmap.save(Path(out) / "maps" / f"{name}-{dim}")
    return r.row


def load_known_maps(out: str | os.PathLike, seed: int = 0, device: str = "cpu") -> list[KnownMapResult]:
    """The results that :func:`fit_known_maps` wrote, with the same (seeded) samples that were fitted."""
    out = Path(out)
    results = []
    for row in json.loads((out / "rows.json").read_text()):
        pair = make_pair(row["pair"], int(row["dim"]), seed=seed)
        x, y = _samples(pair, int(row["samples"]), seed)
        tmap = TransportMap.load(out / "maps" / f"{row['pair']}-{row['dim']}", device=device)
        results.append(KnownMapResult(row, tmap, pair, x, y))
    return results

"""`fit` (arrays → TransportMap) and `fit_latents` (the pipeline stage on the tagger's latents)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..splits import SplitConfig, calibration_rows
from ..util.atomic import atomic_write_json, atomic_write_npz, writable_folder
from ..util.sections import hashed
from ..util.torch_env import torch_threads
from .config import TransportConfig, TransportError
from .audit import audit_map
from .coords import check_samples, holdout_split, solver_frame
from .map import TransportMap, solver_coords
from .metrics import w2_exact
from .train import Solver

__all__ = ["fit", "fit_latents"]


def fit(source: np.ndarray, target: np.ndarray, cfg: TransportConfig, *, seed: int = 0, device: str = "cpu",
        progress: bool = True) -> TransportMap:
    """Learn the Brenier map source → target with a pair of ICNNs on the Kantorovich dual.

    Arguments:
        source, target: samples with shape (n, d) and (m, d); rows must be finite.
        cfg: the solver (a profile's ``[transport]`` section; ``cfg.replace(steps=200)`` for a variant).
        seed: seeds the initialisation, the validation split and the batches (same seed → same map).
        device: "cpu" or "cuda".
        progress: show a tqdm bar with the running dual objective and W2 estimate.

    Returns:
        A `TransportMap` at the best validation checkpoint; ``.history`` holds per-validation
        ``dual`` (held-out J(f)), ``w2`` (primal W2 estimate, original units), ``w2_dual``,
        ``val_loss``, ``amortization``, ``conj_residual``, ``lr``, ``time``; ``rollbacks`` lists the
        validation steps that restored the best checkpoint at half the learning rate.
    """
    if not isinstance(cfg, TransportConfig):
        raise TransportError(f"fit: cfg must be a TransportConfig (a profile's [transport] section), got "
                             f"{type(cfg).__name__}; use mindgap_lib.transport.transport_config(profile)")
    with torch_threads(cfg.threads or None):
        return _fit(source, target, cfg, seed, device, progress)


def _fit(source: np.ndarray, target: np.ndarray, cfg: TransportConfig, seed: int, device: str, progress: bool) -> TransportMap:
    n_train_min = int(np.ceil(cfg.batch_size / (1 - cfg.val_fraction)))
    why = f" (batch_size={cfg.batch_size} once val_fraction={cfg.val_fraction:g} is held out)"
    source, target = check_samples(source, target, n_train_min, why=why)
    # the scaler comes from the sample the optimised potential f lives on (the target, or the source for a
    # reverse solve): its random features are scaled for unit-variance inputs, and on a sample squeezed to
    # a fraction of that (a 2-d ridge pair: 0.3) they are nearly linear and f stays the Gaussian start
    primary = source if cfg.direction == "reverse" else target
    basis, shift, scale = solver_frame(source, target, primary, cfg.standardize, cfg.subspace_tol)
    rng = np.random.default_rng(seed)
    xs, xv = holdout_split(solver_coords(source, shift, scale, basis), cfg.val_fraction, cfg.val_size, rng)
    ys, yv = holdout_split(solver_coords(target, shift, scale, basis), cfg.val_fraction, cfg.val_size, rng)
    as_t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32, device=device)  # noqa: E731
    if cfg.direction == "reverse":  # the dual runs target → source; TransportMap swaps the roles back
        xs, ys, xv, yv = ys, xs, yv, xv
    solver = Solver(as_t(xs), as_t(ys), (as_t(xv), as_t(yv)), cfg, seed, as_t(scale))
    f, g = solver.run(progress=progress)
    if cfg.polish_steps:
        f, g = solver.polish(progress=progress)
    return TransportMap(f, g, shift, scale, hashed(cfg) | {"seed": seed}, solver.history, basis)


def _load_layer(path: Path, layer: str) -> np.ndarray:
    if not path.is_file():
        raise TransportError(f"{path}: latents file not found (make it with `mindgap latents`)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            if layer not in npz.files:
                raise TransportError(f"{path}: no array {layer!r} (has: {', '.join(npz.files)})")
            arr = npz[layer]
    except TransportError:
        raise
    except Exception as err:  # a truncated or foreign file: zipfile.BadZipFile, pickled objects, ...
        raise TransportError(f"{path}: not a readable latents file ({type(err).__name__}: {err})") from None
    if arr.ndim == 1:
        raise TransportError(f"{path}: {layer!r} is 1-d (shape {arr.shape}); transport needs (n, d) features")
    return arr


def fit_latents(source: str | os.PathLike, target: str | os.PathLike, out_dir: str | os.PathLike,
                cfg: TransportConfig, *, layer: str = "z128", split: SplitConfig | None = None, seed: int = 0,
                device: str = "cpu", progress: bool = True) -> dict[str, Any]:
    """Fit ``source[layer]`` → ``target[layer]`` (two latents files); write out_dir/{map/, calibrated.npz, metrics.json}.

    With a `split`, the map sees only each sample's *fit* rows (:func:`mindgap_lib.splits.calibration_rows`,
    the sample named by its file's stem), so the evaluation can judge it on jets it never saw;
    ``calibrated.npz`` still holds every source row. Returns the metrics dict (also in metrics.json):
    at the best checkpoint the held-out dual objective, ``w2`` (transport cost of the map,
    √E‖x − T(x)‖²), ``w2_init`` (the same for the Gaussian start), ``w2_dual``; exact W2 on
    ≤2000-point subsamples of the eval rows between source and target (``w2_emd_before``) and
    between calibrated source and target (``w2_emd_after``); training time.
    """
    source, target, out_dir = Path(source), Path(target), Path(out_dir)
    src_all, tgt_all = _load_layer(source, layer), _load_layer(target, layer)
    # fail before the fit, not after it
    writable_folder(out_dir, lambda reason: TransportError(f"output folder {out_dir}: {reason}"))
    if split is not None:
        rs, rt = calibration_rows(len(src_all), split, source.stem), calibration_rows(len(tgt_all), split, target.stem)
        fit_s, fit_t, ev_s, ev_t = src_all[rs.fit], tgt_all[rt.fit], rs.eval, rt.eval
    else:
        fit_s, fit_t, ev_s, ev_t = src_all, tgt_all, slice(None), slice(None)
    t0 = time.perf_counter()
    tmap = fit(fit_s, fit_t, cfg, seed=seed, device=device, progress=progress)
    train_time = time.perf_counter() - t0
    tmap.save(out_dir / "map")
    calibrated = tmap.transport(src_all.astype(np.float32))
    atomic_write_npz(out_dir / "calibrated.npz", **{layer: calibrated})
    h = tmap.history
    best = h["best_step"][0]
    k = h["step"].index(best)
    metrics = {"layer": layer, "source": source.stem, "target": target.stem, "n_source": len(src_all),
               "n_target": len(tgt_all), "n_fit_source": len(fit_s), "n_fit_target": len(fit_t),
               "dim": src_all.shape[1], "map_dims": int(tmap.basis.shape[1]) if tmap.basis is not None else src_all.shape[1],
               "best_step": best, "dual": h["dual"][k], "val_loss": h["val_loss"][k], "w2": h["w2"][k],
               "w2_dual": h["w2_dual"][k], "w2_init": h["w2"][0], "amortization": h["amortization"][k],
               "w2_emd_before": w2_exact(src_all[ev_s], tgt_all[ev_t], n=2000),
               "w2_emd_after": w2_exact(calibrated[ev_s], tgt_all[ev_t], n=2000),
               "train_time_s": train_time, "rollbacks": len(h.get("rollbacks", [])),
               "diverged": "diverged_at" in h, "seed": seed, "device": str(device)}
    # is it a Brenier map? cost vs exact W2, monotonicity, Jacobian, conjugate residuals on the eval rows
    metrics["audit"] = audit_map(tmap, src_all[ev_s], tgt_all[ev_t], n_emd=1000, repeats=3, seed=seed,
                                 mapped=calibrated[ev_s])
    atomic_write_json(out_dir / "metrics.json", metrics, default=float, sort_keys=False)
    return metrics

"""The solver's ceiling on a pair with a known map: its potential regressed onto the answer.

A dual solver never sees T*, only two samples. When it stalls, is the potential family too poor to
hold the map, or does the dual fail to find it? `fit_oracle` answers the first half: the same
potential, start, coordinates, optimiser, schedule, batches and precision as `fit`, trained on
E‖∇g(x) − T*(x)‖² with T*(x) given. Its error after ``cfg.steps`` batches bounds what the dual can
reach with that budget; a dual well above it is limited by its objective, one near it by the network.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from tqdm.auto import tqdm

from ..util.sections import hashed
from ..util.torch_env import torch_threads
from .config import TransportConfig, TransportError
from .coords import check_samples, holdout_split, solver_frame
from .map import TransportMap, solver_coords
from .train import Solver

__all__ = ["fit_oracle"]


def fit_oracle(source: np.ndarray, mapped: np.ndarray, cfg: TransportConfig, *, seed: int = 0, device: str = "cpu",
               progress: bool = True) -> TransportMap:
    """Fit ∇g to the known map values ``mapped[i] = T*(source[i])`` (rows paired) with `cfg`'s solver parts.

    Only the loss differs from `fit` (forward direction; g's quadratic starts at the Bures map of the two
    samples). Returns a `TransportMap` whose transport is the bare ∇g (``map_refine_steps = 0``; f is the
    untrained start) and whose ``history`` has ``step`` and ``val_mse`` (held-out E‖∇g(x) − T*(x)‖² in
    solver units) per validation.
    """
    if not isinstance(cfg, TransportConfig):
        raise TransportError(f"fit_oracle: cfg must be a TransportConfig, got {type(cfg).__name__}")
    source, mapped = check_samples(source, mapped, cfg.batch_size + 1, names=("source", "mapped"))
    if len(source) != len(mapped):
        raise TransportError(f"fit_oracle: source ({len(source)} rows) and mapped ({len(mapped)} rows) must be paired")
    cfg = cfg.replace(direction="forward", map_refine_steps=0)
    with torch_threads(cfg.threads or None):
        basis, shift, scale = solver_frame(source, mapped, mapped, cfg.standardize, cfg.subspace_tol)
        # `fit`'s split, on the pairs side by side so that each x keeps its T*(x)
        k = source.shape[1] if basis is None else basis.shape[1]
        pairs = np.hstack([solver_coords(source, shift, scale, basis), solver_coords(mapped, shift, scale, basis)])
        train, val = holdout_split(pairs, cfg.val_fraction, cfg.val_size, np.random.default_rng(seed))
        as_t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32, device=device)  # noqa: E731
        xs, ys, xv, yv = as_t(train[:, :k]), as_t(train[:, k:]), as_t(val[:, :k]), as_t(val[:, k:])
        solver = Solver(xs, ys, (xv, yv), cfg, seed, as_t(scale))
        g, opt, sched = solver.g, solver.opt_g, solver.sched[1]
        history: dict[str, list] = {"step": [], "val_mse": [], "time": []}
        t0 = time.perf_counter()

        def validate(i: int) -> None:
            history["step"].append(i)
            history["val_mse"].append(float(((g.grad(xv) - yv) ** 2).sum(-1).mean()))
            history["time"].append(time.perf_counter() - t0)

        validate(0)
        for i in tqdm(range(1, cfg.steps + 1), disable=not progress, desc="fit-oracle", leave=False):
            idx = torch.randint(len(xs), (cfg.batch_size,), generator=solver.gen).to(xs.device)
            with solver.autocast():
                pred = g.grad(xs[idx], create_graph=True)
            loss = ((pred.float() - ys[idx]) ** 2).sum(-1).mean()
            if not torch.isfinite(loss):
                raise TransportError(f"fit_oracle: non-finite loss at batch {i} (lower lr)")
            solver._update(opt, g, loss)
            sched.step()
            if i % cfg.val_every == 0 or i == cfg.steps:
                validate(i)
        history["best_step"], history["train_time"] = [cfg.steps], [time.perf_counter() - t0]
    return TransportMap(solver.f, g, shift, scale, hashed(cfg) | {"seed": seed, "oracle": True}, history, basis)

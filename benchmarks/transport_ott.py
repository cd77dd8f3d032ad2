"""OTT-JAX's neural dual solvers on one known-map pair, in their own environment (``make ott-env``).

Usage: .venv-ott/bin/python benchmarks/transport_ott.py IN.npz OUT.json BUDGET_S CHUNK_STEPS [METHOD]

IN.npz holds x, y (training samples), xt, tx (test points and the true map there), width, batch, and
optionally var (the benchmark's Var(Q); else the trace of y's covariance). METHOD:

- ``w2-icnn`` (default): `W2NeuralDual` with ICNN potentials [width, width] and OTT's Gaussian start,
  AdamW 1e-3, Amos' regression amortisation with the L-BFGS conjugate solver;
- ``w2-mlp``: the configuration Amos (2023) found easiest to train: non-convex MLP potentials
  (f a 4 × width MLP potential, g a 4 × width MLP for its gradient), back-and-forth updates, AdamW
  with a cosine decay from 1e-3 over ``STEPS`` (env, default 20000) steps, the same conjugate solver;
- ``enot``: `ExpectileNeuralDual` (ENOT, Buzun et al. 2024) with its default MLPs and expectile 0.99.

Trains in chunks of CHUNK_STEPS until BUDGET_S seconds have passed (or STEPS are done) and writes a
JSON list of {"step", "time", "cpu", "l2_uvp"} after each chunk (forward map ∇f on xt); a run whose map turns
NaN stops there.
"""

import json
import os
import sys
import time

import jax
import numpy as np
import optax
from ott.neural.methods.expectile_neural_dual import ExpectileNeuralDual
from ott.neural.methods.neuraldual import W2NeuralDual
from ott.neural.networks import potentials
from ott.neural.networks.icnn import ICNN


def loader(data: np.ndarray, batch: int, seed: int):
    rng = np.random.default_rng(seed)
    while True:
        yield data[rng.integers(0, len(data), batch)]


def make_solver(method: str, x: np.ndarray, y: np.ndarray, width: int, chunk: int, total: int):
    dim = x.shape[1]
    if method == "w2-icnn":
        # OTT's f is the source-side potential (forward map ∇f: source → target), g its conjugate
        f = ICNN(dim_data=dim, dim_hidden=[width, width], gaussian_map_samples=(x, y))
        g = ICNN(dim_data=dim, dim_hidden=[width, width], gaussian_map_samples=(y, x))
        return W2NeuralDual(dim, f, g, optimizer_f=optax.adamw(1e-3), optimizer_g=optax.adamw(1e-3),
                            num_train_iters=chunk, valid_freq=10**9, log_freq=10**9, rng=jax.random.PRNGKey(0))
    if method == "w2-mlp":
        schedule = optax.cosine_decay_schedule(1e-3, decay_steps=total, alpha=1e-2)
        f = potentials.PotentialMLP(dim_hidden=[width] * 4, is_potential=True)
        g = potentials.PotentialMLP(dim_hidden=[width] * 4, is_potential=False)
        return W2NeuralDual(dim, f, g, optimizer_f=optax.adamw(schedule), optimizer_g=optax.adamw(schedule),
                            num_train_iters=chunk, back_and_forth=True, valid_freq=10**9, log_freq=10**9,
                            rng=jax.random.PRNGKey(0))
    if method == "enot":
        return ExpectileNeuralDual(dim, num_train_iters=chunk, valid_freq=10**9, log_freq=10**9,
                                   rng=jax.random.PRNGKey(0))
    raise SystemExit(f"transport_ott.py: unknown METHOD {method!r} (w2-icnn, w2-mlp, enot)")


def main() -> None:
    src, out, budget, chunk = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    method = sys.argv[5] if len(sys.argv) > 5 else "w2-icnn"
    total = int(os.environ.get("STEPS", "20000"))
    d = np.load(src)
    x, y, xt, tx = d["x"], d["y"], d["xt"], d["tx"]
    width, batch = int(d["width"]), int(d["batch"])
    var = float(d["var"]) if "var" in d else float(np.trace(np.cov(y, rowvar=False)))
    solver = make_solver(method, x, y, width, chunk, total)
    loaders = [loader(x, batch, 1), loader(y, batch, 2), loader(x, batch, 3), loader(y, batch, 4)]
    rows, t0, c0, step = [], time.perf_counter(), time.process_time(), 0
    while time.perf_counter() - t0 < budget and step < total:
        state = solver(*loaders)  # each call trains CHUNK_STEPS more from where the last one stopped
        mapped = np.asarray(state.transport(xt, forward=True))
        step += chunk
        l2 = 100 * float(((mapped - tx) ** 2).sum(1).mean()) / var
        rows.append({"step": step, "time": time.perf_counter() - t0, "cpu": time.process_time() - c0, "l2_uvp": l2})
        print(json.dumps(rows[-1]), flush=True)
        if not np.isfinite(l2):  # diverged: every later step stays NaN
            break
    with open(out, "w") as fh:
        json.dump(rows, fh)


if __name__ == "__main__":
    main()

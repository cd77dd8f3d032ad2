"""OTT-JAX's W2NeuralDual on one known-map pair; run by benchmarks/transport.py with .venv-ott's Python.

Usage: .venv-ott/bin/python benchmarks/transport_ott.py IN.npz OUT.json BUDGET_S CHUNK_STEPS
IN.npz holds x, y (training samples), xt, tx (test points and the true map there), width, batch.
Writes a JSON list of {"step", "time", "l2_uvp"} after each chunk of training.
"""

import json
import sys
import time

import jax
import numpy as np
import optax
from ott.neural.methods.neuraldual import W2NeuralDual
from ott.neural.networks.icnn import ICNN


def loader(data: np.ndarray, batch: int, seed: int):
    rng = np.random.default_rng(seed)
    while True:
        yield data[rng.integers(0, len(data), batch)]


def main() -> None:
    src, out, budget, chunk = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    d = np.load(src)
    x, y, xt, tx = d["x"], d["y"], d["xt"], d["tx"]
    width, batch = int(d["width"]), int(d["batch"])
    var = float(np.trace(np.cov(y, rowvar=False)))
    dim = x.shape[1]
    # same width as ours, OTT's own Gaussian (Bures) initialisation, Amos' amortisation + LBFGS conjugate
    # OTT's f is the source-side potential (forward map ∇f: source → target), g its conjugate
    f = ICNN(dim_data=dim, dim_hidden=[width, width], gaussian_map_samples=(x, y))
    g = ICNN(dim_data=dim, dim_hidden=[width, width], gaussian_map_samples=(y, x))
    solver = W2NeuralDual(dim, f, g, optimizer_f=optax.adamw(1e-3), optimizer_g=optax.adamw(1e-3),
                          num_train_iters=chunk, valid_freq=10**9, log_freq=10**9, rng=jax.random.PRNGKey(0))
    loaders = [loader(x, batch, 1), loader(y, batch, 2), loader(x, batch, 3), loader(y, batch, 4)]
    rows, t0, step = [], time.perf_counter(), 0
    while time.perf_counter() - t0 < budget:
        potentials = solver(*loaders)
        step += chunk
        mapped = np.asarray(potentials.transport(xt, forward=True))
        l2 = 100 * float(((mapped - tx) ** 2).sum(1).mean()) / var
        rows.append({"step": step, "time": time.perf_counter() - t0, "l2_uvp": l2})
        print(json.dumps(rows[-1]), flush=True)
    with open(out, "w") as fh:
        json.dump(rows, fh)


if __name__ == "__main__":
    main()

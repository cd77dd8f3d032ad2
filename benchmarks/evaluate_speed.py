"""How long the `cpu` evaluation takes: one discriminator at 1 vs 2 torch threads, then a whole evaluate().

Synthetic latents (a randomly initialised tagger head at 128 wide, 10k source and 10k target
jets, the cpu profile's calibration sample size) and exact mean-shift maps, so that only the
evaluation itself is timed. Usage: ``.venv/bin/python benchmarks/evaluate_speed.py [--full]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mindgap_lib.evaluate import EvaluateConfig, evaluate, train_discriminator
from mindgap_lib.tagger import Tagger, TaggerConfig


class MeanShift:
    def __init__(self, a: np.ndarray, b: np.ndarray):
        self.d = (b.mean(0) - a.mean(0)).astype(np.float32)

    def transport(self, x: np.ndarray) -> np.ndarray:
        return x + self.d


def latents(model: Tagger, x: np.ndarray) -> dict[str, np.ndarray]:
    with torch.no_grad():
        return {k: v.numpy() for k, v in model.head(torch.from_numpy(x)).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="also time a whole evaluate() with the post-activation study")
    parser.add_argument("--n", type=int, default=10000, help="jets per sample")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = Tagger(TaggerConfig(num_particles=8, dim=64, num_layers=1, num_heads=2, head_layers=5, head_width=128)).eval()
    rng = np.random.default_rng(0)
    shift = np.zeros(64, np.float32)
    shift[:8] = 0.3
    src = latents(model, rng.normal(size=(args.n, 64)).astype(np.float32))
    tgt = latents(model, (rng.normal(size=(args.n, 64)) + shift).astype(np.float32))
    cfg = EvaluateConfig.from_profile("cpu")
    for threads in (1, 2):
        cfg.discriminator.threads = threads
        t0 = time.perf_counter()
        res = train_discriminator(src["z128"], tgt["z128"], cfg.discriminator, seed=0)
        print(f"one z128 discriminator, {threads} thread(s): {time.perf_counter() - t0:.1f} s "
              f"({len(res.history['val'])} epochs, AUC {res.auc.value:.3f} ± {res.auc.err:.3f})")
    if args.full:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            (tmp / "lat").mkdir()
            for name, arr in (("source", src), ("target", tgt)):
                np.savez(tmp / "lat" / f"{name}.npz", **arr)
            t0 = time.perf_counter()
            m = evaluate(model, tmp / "lat", MeanShift(src["z128"], tgt["z128"]), tmp / "out", profile="cpu", progress=False,
                         post_transport_dir=MeanShift(src["z128_post"], tgt["z128_post"]))
            print(f"whole cpu evaluate() with post study (15 discriminators): {time.perf_counter() - t0:.0f} s; "
                  f"calibrated-vs-target AUC z128 {m['auc']['calibrated_vs_target']['z128']['value']:.3f}")


if __name__ == "__main__":
    main()

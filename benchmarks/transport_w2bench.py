"""Our OT solver on the public Wasserstein-2 benchmark (Korotin et al. 2021), high-dimensional pairs "Mix3toMix10".

Usage:
    .venv/bin/python benchmarks/transport_w2bench.py [--dims 16 64 128] [--preset enot|enot-quad|enot-bf16|enot-quad-bf16|enot-mlp|w2bench|cpu] [--samples 400000]
        [--set key=value ...] [--audit] [--oracle] [--out benchmarks/results_transport_w2bench.md] [--json OUT.json]
        [--ott w2-icnn w2-mlp enot] [--ott-budget 1800] [--no-ours]

For each dimension: the pair is rebuilt from the vendored potentials (``benchmarks/w2bench``), we draw
``--samples`` independent points per side (seed 1; 400 000 by default, since the published solvers draw fresh points
for every batch), fit ``fit(x, y, transport_config("cpu", **preset))`` with one
torch thread, and score the map as the repository's ``src/metrics.py`` does: forward L2-UVP =
100·E‖T̂(x) − T*(x)‖² / Var(Q) on 4096 fresh input points, Var(Q) the summed per-dimension variance of
2¹⁴ mapped points. Identity and the linear (Bures) baseline are scored the same way. ``--audit``
adds the optimality audit (`mindgap_lib.transport.audit`) on held-out points. Times are wall-clock and
process CPU time; on a shared machine the wall time includes contention, the CPU time does not.

Presets: ``enot`` (default) is ENOT's objective on the cpu profile's convex ICNN pair (trained bidirectionally with
the expectile regulariser, no conjugate solve; 50 000 batches at d = 64 and 36 000 at d = 128, ~15 minutes on one core
each; 30 000 elsewhere); ``enot-quad`` the same with one convex quadratic skip per unit (``quad_rank = 1``; 32 000
batches at d = 64, 25 000 at d = 128); ``enot-bf16`` (batches of 512; at d = 64, 105 000 of them at lr 3e-2, the best we have there,
which needs the 400 000 samples per side: on 40 000 that lr diverges late) and
``enot-quad-bf16`` (batches of 256, 100 000, the best we have at d = 128) the two with bfloat16 matrix products
(``precision = "bf16"``), so several times the batches fit ~15 CPU-minutes on a CPU with AVX512-BF16 or AMX (on a
CPU that emulates bfloat16 they take longer, not worse); ``enot-mlp`` the same objective
on two ELU MLP potentials as in OTT-JAX (not convex; 27 000 batches, 22 000 at d = 128, ~14 CPU-minutes);
``w2bench`` the best ICNN configuration with a conjugate solve (reverse solve, f:g = 1:1, buffer warm starts, 500
warm-up batches, mean-curvature checkpoint rule; 16 000 batches, 11 000 at d = 128); ``cpu`` is the cpu profile
unchanged (ENOT's objective with a weak expectile, 0.02, since 2026-12-06). All are discussed in benchmarks/results_transport.md.
``--set`` overrides single fields (values parsed as JSON when possible), e.g. ``--set steps=3000``.
The table is written to ``--out`` (appended as a new section) and printed.

``--ott METHOD ...`` also trains OTT-JAX's solvers on the same samples (``benchmarks/transport_ott.py`` in
the separate environment that ``make ott-env`` makes, on one XLA thread), each for ``--ott-budget`` seconds
of wall time or until it has done its steps, and reports its L2-UVP curve on the same test points.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from mindgap_lib.transport import fit, fit_oracle, transport_config
from mindgap_lib.transport.audit import audit_map
from mindgap_lib.transport.w2bench import benchmark_l2_uvp, linear_baseline, mix3tomix10_pair

ROOT = Path(__file__).resolve().parents[1]
W2BENCH = ROOT / "benchmarks" / "w2bench"
TEST_SIZE = 4096                                       # the repository's score_fitted_maps(size=4096)
# the classic dual with a conjugate solve: the cpu profile's [transport] until 2026-12-06 (forward, f:g = 1:3, 5 conjugate
# steps per batch and 30 when applying the map), pinned here so presets built on it keep their meaning
CONJUGATE = {"conj_steps": 5, "g_loss": "regression", "map_refine_steps": 30, "expectile": 0.0, "bidirectional": False,
             "checkpoint": "best", "betas": [0.9, 0.999], "rollback_tol": 0.01, "g_per_f": 3, "steps": 6000}
# ENOT's objective (Buzun et al. 2024) on the cpu profile's convex ICNN pair (Gaussian start): both maps trained
# bidirectionally with the expectile regulariser (τ = 0.99; coefficient 2 in our ½‖x − y‖² units is OTT-JAX's 1
# in its ‖x − y‖² units), no conjugate solve, β = (0.9, 0.99), last checkpoint. T = ∇g stays a Brenier map
ENOT = {"conj_steps": 0, "g_loss": "objective", "expectile": 0.99, "expectile_coef": 2.0, "bidirectional": True,
        "g_per_f": 1, "betas": [0.9, 0.99], "map_refine_steps": 0, "checkpoint": "last", "rollback_tol": 0.0,
        "steps": 30000, "val_every": 1000}
PRESETS = {
    "cpu": {},
    # CONJUGATE solved target → source (T = ∇f, no conjugate solve when applying the map), f:g = 1:1, buffer warm starts
    "w2bench": CONJUGATE | {"direction": "reverse", "g_per_f": 1, "val_curvature": "mean", "conj_warm": "buffer",
                            "warmup_steps": 500, "steps": 16000, "val_every": 500},
    "enot": ENOT,
    # `enot` with one convex quadratic skip per unit (quad_rank = 1: Σ (q·x)² features, as Korotin et al.'s DenseICNN):
    # ~1.3x the cost of a batch; at d = 128 it halves the error (2.42 % against 4.39 % in 15 CPU-minutes), at d = 64
    # it does not help (6.65 % at 32 000 batches, 7.83 % at 38 000, against 6.39 %)
    "enot-quad": ENOT | {"quad_rank": 1},
    # `enot` and `enot-quad` with smaller batches and bfloat16 matrix products (precision = "bf16": ~1.8x the
    # batches per CPU-second here, AVX512-BF16), so several times the batches fit the same ~15 CPU-minutes. At d = 128
    # more, smaller batches kept winning (1024 x 45 000: 2.21 %, 512 x 68 000: 1.96 %, 256 x 100 000: 1.77 %); at d = 64
    # they did not (512 x 105 000: 5.08 %, 256 x 175 000: 5.21 %), so `enot-bf16` keeps 512
    "enot-bf16": ENOT | {"precision": "bf16", "batch_size": 512, "steps": 60000},
    "enot-quad-bf16": ENOT | {"quad_rank": 1, "precision": "bf16", "batch_size": 256, "steps": 100000},
    # the same objective on two 4 x 128 ELU MLP potentials from the identity map, as OTT-JAX's ExpectileNeuralDual
    # (not convex: the audit measures it), Adam β = (0.9, 0.99) (ENOT authors; OTT-JAX's 0.9, 0.9 spiked twice at
    # d = 128) at 1e-3 with a cosine decay
    "enot-mlp": ENOT | {"potential": "mlp", "mlp_activation": "elu", "blocks": 2, "layers": 2, "init": "identity",
                        "neural_init": 1.0, "quad_lr_scale": 0.0, "lr": 1e-3, "clip": 100.0, "steps": 27000},
}
OTT_PYTHON = ROOT / ".venv-ott" / "bin" / "python"
# the published solvers draw fresh points for every batch; 400 000 per side comes closer to that than the 40 000 used
# until 2026-12-07 (the `enot-bf16` run at d = 64: 5.08 % on 40 000, 3.76 % on 400 000, 3.99 % on 2 000 000)
SAMPLES = 400_000
# per-dimension overrides of a preset: batches that fit ~15 CPU-minutes on one core of the development machine (a batch
# costs more at d = 128), and `enot-bf16`'s lr 3e-2 at d = 64 (2.51 % and 2.97 % over two seeds on 400 000 samples per
# side; on 40 000 the same lr leaves the basin late in the run: 8.24 %)
BY_DIM = {"w2bench": {128: {"steps": 11000}}, "enot-mlp": {128: {"steps": 22000}},
          "enot": {64: {"steps": 50000}, 128: {"steps": 36000}}, "enot-quad": {64: {"steps": 32000}, 128: {"steps": 25000}},
          "enot-bf16": {64: {"steps": 105000, "lr": 0.03}}}


def preset_for(preset: str, dim: int, sets: dict | None = None) -> dict:
    """The preset's overrides of the cpu profile, then its overrides at `dim` (`BY_DIM`), then `sets`."""
    return PRESETS[preset] | BY_DIM.get(preset, {}).get(dim, {}) | (sets or {})


def parse_sets(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, _, raw = item.partition("=")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def run_ott(x, y, xt, txt, var: float, method: str, budget: float, width: int = 128, batch: int = 1024,
            chunk: int = 250, steps: int = 20000, core: int | None = 0) -> dict:
    """OTT-JAX's `method` on the same samples, in .venv-ott on one XLA thread: its L2-UVP curve on the same
    test points (every `chunk` steps, until `budget` wall seconds or `steps`; `var` the L2-UVP's Var(Q)) and
    its best point. The process is pinned to CPU `core` (None: not pinned), since JAX otherwise spreads over
    every core where ours gets one. Also used by benchmarks/transport.py."""
    if not OTT_PYTHON.exists():
        return {"method": method, "error": f"{OTT_PYTHON} missing: run `make ott-env`"}
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.npz", Path(tmp) / "out.json"
        np.savez(src, x=x, y=y, xt=xt, tx=txt, width=width, batch=batch, var=var)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "JAX_PLATFORMS": "cpu",
               "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1", "STEPS": str(steps)}
        pin = [] if core is None else ["taskset", "-c", str(core)]
        cmd = [*pin, str(OTT_PYTHON), str(ROOT / "benchmarks" / "transport_ott.py"), str(src), str(out), str(budget),
               str(chunk), method]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0 or not out.exists():
            return {"method": method, "error": proc.stderr[-800:]}
        curve = json.loads(out.read_text())
    finite = [r for r in curve if np.isfinite(r["l2_uvp"])] or curve[:1]
    return {"method": method, "best": min(finite, key=lambda r: r["l2_uvp"]), "last": curve[-1], "curve": curve}


def bench_dim(dim: int, samples: int, overrides: dict, audit: bool, ott: list[str] = (), ott_budget: float = 1800,
              ours: bool = True, ott_args: dict | None = None, seed: int = 0, oracle: bool = False) -> dict:
    pair = mix3tomix10_pair(dim, W2BENCH)
    x, y = pair.samples(samples, seed=1)
    xt = pair.sample_source(TEST_SIZE, np.random.default_rng(7))
    txt = pair.true_map(xt)
    row = {"dim": dim, "samples": samples, "identity": benchmark_l2_uvp(pair, xt, txt),
           "linear": benchmark_l2_uvp(pair, linear_baseline(pair)(xt), txt)}
    var = pair.info["output_var"]
    row["ott"] = [run_ott(x, y, xt, txt, var, m, ott_budget, **(ott_args or {})) for m in ott]
    cfg = transport_config("cpu", threads=1, **overrides)
    if oracle:  # the same solver settings told the answer: the ceiling of its network at this budget
        cpu = time.process_time()
        omap = fit_oracle(x, pair.true_map(x), cfg, seed=seed, progress=False)
        row["oracle"] = {"l2_uvp": benchmark_l2_uvp(pair, omap.transport(xt), txt), "cpu_s": time.process_time() - cpu}
    if not ours:
        return row
    wall, cpu = time.perf_counter(), time.process_time()
    tmap = fit(x, y, cfg, seed=seed, progress=False)
    row |= {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu,
            "ours": benchmark_l2_uvp(pair, tmap.transport(xt), txt), "steps": tmap.config["steps"],
            "best_step": tmap.history["best_step"][0], "seed": seed, "config": {k: tmap.config[k] for k in overrides}}
    if audit:
        xa = pair.sample_source(3000, np.random.default_rng(8))
        ya = pair.true_map(pair.sample_source(3000, np.random.default_rng(9)))
        row["audit"] = audit_map(tmap, xa, ya, n_emd=1000, repeats=3)
    return row


def audit_table(rows: list[dict]) -> str:
    """The optimality audit of each fitted map (rows with an "audit" dict), one line per row."""
    audits = [r for r in rows if "audit" in r]
    if not audits:
        return ""
    lines = ["", "| d | cost − W2²(emd) | push-fwd W2² vs floor | 2-cycle / 3-cycle violations | Jacobian asym | "
             "neg.-eigenvalue points | conj. residual (mean) |", "|---|---|---|---|---|---|---|"]
    for r in audits:
        a = r["audit"]
        lines.append(f"| {r['dim']} | {a['cost_minus_w2sq_mean']:.2f} ± {a['cost_minus_w2sq_std']:.2f} | "
                     f"{a['pushforward_w2sq_mean']:.2f} vs {a['floor_w2sq_mean']:.2f} | "
                     f"{a['cm2_violation_fraction']:.4f} / {a['cm3_violation_fraction']:.4f} | "
                     f"{a['jac_asym_rel_max']:.1e} | {a['jac_negative_fraction']:.3f} | "
                     f"{a['conj_residual_mean']:.2e} |")
    return "\n".join(lines)


def table(rows: list[dict], preset: str, overrides: dict) -> str:
    lines = [f"### Mix3toMix10, preset `{preset}` ({time.strftime('%Y-%m-%d')}, {platform.node()}, torch "
             f"{torch.__version__}, 1 thread)", "", f"Overrides of the cpu profile (before the per-dimension ones, `BY_DIM`): `{json.dumps(overrides)}`", "",
             "| d | samples/side | identity | linear | ours: L2-UVP % | wall s | CPU s | batches (best) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in (r for r in rows if "ours" in r):
        lines.append(f"| {r['dim']} | {r['samples']} | {r['identity']:.1f} | {r['linear']:.1f} | **{r['ours']:.2f}** | "
                     f"{r['wall_s']:.0f} | {r['cpu_s']:.0f} | {r['steps']} ({r['best_step']}) |")
    lines.append(audit_table(rows))
    lines.append(oracle_table(rows))
    lines.append(ott_table(rows))
    return "\n".join(lines) + "\n"


def oracle_table(rows: list[dict]) -> str:
    """`--oracle`: the preset's network, start, optimiser and batches regressed onto the true map (`fit_oracle`)."""
    runs = [r for r in rows if "oracle" in r]
    if not runs:
        return ""
    lines = ["", "| d | oracle: ∇g regressed onto T*, same settings: L2-UVP % | CPU s |", "|---|---|---|"]
    lines += [f"| {r['dim']} | {r['oracle']['l2_uvp']:.2f} | {r['oracle']['cpu_s']:.0f} |" for r in runs]
    return "\n".join(lines)


def ott_table(rows: list[dict]) -> str:
    """OTT-JAX's runs, one line per method and dimension: best and last L2-UVP, steps, seconds per step."""
    runs = [(r["dim"], o) for r in rows for o in r.get("ott", [])]
    if not runs:
        return ""
    lines = ["", "| d | OTT-JAX method | best L2-UVP % (step, wall s) | last L2-UVP % (step) | wall s | CPU s | "
             "s/step |", "|---|---|---|---|---|---|---|"]
    for dim, o in runs:
        if "error" in o:
            lines.append(f"| {dim} | `{o['method']}` | error: {o['error'].splitlines()[-1] if o['error'] else '?'} "
                         "| | | | |")
            continue
        b, last = o["best"], o["last"]
        end = f"{last['l2_uvp']:.2f}" if np.isfinite(last["l2_uvp"]) else "NaN: diverged"
        lines.append(f"| {dim} | `{o['method']}` | **{b['l2_uvp']:.2f}** ({b['step']}, {b['time']:.0f}) | "
                     f"{end} ({last['step']}) | {last['time']:.0f} | {last['cpu']:.0f} | "
                     f"{last['time'] / last['step']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dims", type=int, nargs="+", default=[16, 64, 128])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="enot")
    ap.add_argument("--samples", type=int, default=SAMPLES, help="points per side (default %(default)s)")
    ap.add_argument("--seed", type=int, default=0,
                    help="the fit's seed (initialisation, validation split, batches); the samples and test points stay fixed")
    ap.add_argument("--set", nargs="*", default=[], help="key=value overrides on top of the preset")
    ap.add_argument("--audit", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results_transport_w2bench.md"))
    ap.add_argument("--json", default=None)
    ap.add_argument("--ott", nargs="*", default=[], choices=["w2-icnn", "w2-mlp", "enot"],
                    help="also train these OTT-JAX solvers on the same samples (needs `make ott-env`)")
    ap.add_argument("--ott-budget", type=float, default=1800, help="wall seconds per OTT-JAX run")
    ap.add_argument("--ott-steps", type=int, default=20000, help="steps per OTT-JAX run at most")
    ap.add_argument("--ott-chunk", type=int, default=250, help="OTT-JAX steps between two evaluations")
    ap.add_argument("--ott-core", type=int, default=0, help="the CPU core OTT-JAX is pinned to")
    ap.add_argument("--no-ours", action="store_true", help="only the baselines and OTT-JAX (and --oracle)")
    ap.add_argument("--oracle", action="store_true",
                    help="also regress the preset's network onto the true map with the same settings (fit_oracle): "
                         "the L2-UVP its network reaches in the same batches when told the answer")
    args = ap.parse_args()
    torch.set_num_threads(1)
    sets = parse_sets(args.set)
    overrides = PRESETS[args.preset] | sets
    rows = []
    for dim in args.dims:
        rows.append(bench_dim(dim, args.samples, preset_for(args.preset, dim, sets), args.audit, args.ott,
                              args.ott_budget, not args.no_ours,
                              {"steps": args.ott_steps, "chunk": args.ott_chunk, "core": args.ott_core}, args.seed,
                              args.oracle))
        print(json.dumps({k: v for k, v in rows[-1].items() if k not in ("audit", "ott")}, default=float), flush=True)
    text = table(rows, args.preset, overrides)
    print(text)
    with open(args.out, "a") as fh:
        fh.write("\n" + text)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=float))


if __name__ == "__main__":
    main()

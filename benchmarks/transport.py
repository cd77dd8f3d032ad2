"""L2-UVP of the OT solver on known-map pairs (d = 2…128), against a textbook Makkuva solver and OTT-JAX.

Usage:
    .venv/bin/python benchmarks/transport.py [--profile cpu] [--preset profile|conjugate|reverse|enot|enot-polish] [--set KEY=VALUE ...]
                                             [--dims 2 16 64 128] [--pairs gaussian ridge] [--no-textbook] [--no-ott]
                                             [--audit] [--oracle] [--samples N] [--json OUT.json]

``--preset profile`` (default) runs the profile's [transport] section unchanged: the solver the book
uses. ``--preset conjugate`` is the classic dual with a conjugate solve (forward, f:g = 1:3, 5 conjugate
steps per batch, 30 when applying the map: the cpu profile until 2026-12-06, and the numbers of
benchmarks/results_transport.md's first known-map table); ``--preset reverse`` the same solved target →
source with f:g 1:1, which helps on the public multimodal pair (issue #15) but not on the tagger's
latents; ``--preset enot`` ENOT's objective with the benchmark's strong expectile (coefficient 2; the
profile has 0.02); ``--preset enot-polish`` the same followed by 400 batches of the plain dual with L-BFGS-solved
conjugates (`polish_steps`; it removes ENOT's bias: on the 128-d ridge pair 0.33 % against 1.3 %, see
benchmarks/results_transport.md). ``--set`` overrides single fields after the preset (values parsed as JSON), e.g.
``--set steps=20000 precision=bf16``.

Per pair and dimension it prints: L2-UVP of the identity, of the Gaussian (Bures) map from the
samples' moments, of our fit (refined ∇f* and bare ∇g), of the textbook solver (identity start,
Makkuva min–max, AdamW 1e-3, 256×3, 10 g-steps per f-step) and of OTT-JAX's `W2NeuralDual` (same
width, its own Gaussian init, Amos' amortisation + LBFGS conjugate) — both given our wall time.
Also exact W2 on subsamples (POT emd2) and the Sinkhorn divergence of T̂#P to Q next to T*#P's.
OTT-JAX runs in .venv-ott (separate environment) when present, else it is reported as skipped.
All fits use one torch thread; on a shared machine the times include contention.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from mindgap_lib.transport.audit import audit_map

import transport_w2bench as w2b  # noqa: E402  (the public pairs; same folder)
from mindgap_lib.transport import (fit, fit_oracle, gaussian_map_from_samples, l2_uvp, make_pair, sinkhorn_divergence,
                                   transport_config, w2_exact)

ROOT = Path(__file__).resolve().parents[1]
PRESETS = {"profile": {}, "conjugate": w2b.CONJUGATE,
           "reverse": w2b.CONJUGATE | {"direction": "reverse", "g_per_f": 1, "val_curvature": "mean"},
           "enot": {"expectile_coef": 2.0},
           "enot-polish": {"expectile_coef": 2.0, "polish_steps": 400, "polish_lr": 3e-3}}
TEXTBOOK = dict(init="identity", conj_steps=0, g_loss="objective", map_refine_steps=0, lr=1e-3, f_per_g=1,
                g_per_f=10, layers=3, width=256, neural_init=1.0, quad_lr_scale=1.0, lr_min_factor=1.0)


def n_samples(dim: int, samples: int = 0) -> int:
    """Points per side: `samples`, or by default 30 000 at d >= 64 and 10 000 below."""
    return samples or (30_000 if dim >= 64 else 10_000)


def run_ott(x, y, xt, tx, width: int, batch: int, budget: float) -> dict | None:
    """OTT-JAX's `W2NeuralDual` (ICNN) for `budget` wall seconds, scored every 50 steps; None without .venv-ott."""
    res = w2b.run_ott(x, y, xt, tx, float(np.trace(np.cov(y, rowvar=False))), "w2-icnn", budget, width, batch,
                      chunk=50, steps=10**9, core=None)
    if "error" in res:
        return None if not w2b.OTT_PYTHON.exists() else {"error": res["error"]}
    best, last = res["best"], res["last"]
    return {"l2_uvp": best["l2_uvp"], "time_to_best": best["time"], "steps": best["step"], "total_time": last["time"],
            "total_steps": last["step"]}


def bench_one(name: str, dim: int, profile: str, textbook: bool, ott: bool, steps: int | None,
              preset: dict | None = None, audit: bool = False, oracle: bool = False, samples: int = 0) -> dict:
    pair = make_pair(name, dim, seed=0)
    x, y = pair.samples(n_samples(dim, samples), seed=1)
    xt = pair.sample_source(5000, np.random.default_rng(7)).astype(np.float32)
    tx = pair.true_map(xt)
    A, b = gaussian_map_from_samples(x, y)
    row = {"pair": name, "dim": dim, "identity": l2_uvp(xt, tx, y), "gaussian": l2_uvp(xt @ A.T + b, tx, y)}
    cfg = transport_config(profile, **((preset or {}) | ({"steps": steps} if steps else {})))
    t0 = time.perf_counter()
    m = fit(x, y, cfg, seed=0, progress=False)
    row["time"] = time.perf_counter() - t0
    mapped = m.transport(xt)
    k = m.history["step"].index(m.history["best_step"][0])
    row |= {"ours": l2_uvp(mapped, tx, y),
            # a reverse solve's map is ∇f itself: there is no amortised ∇g in the forward direction
            "ours_bare_grad_g": float("nan") if m.reverse else l2_uvp(m.transport(xt, refine=0), tx, y),
            "time_to_best": m.history["time"][k],
            "w2_emd_fit": w2_exact(mapped, y, n=2000), "w2_emd_true": w2_exact(tx, y, n=2000),
            "sinkhorn_fit": sinkhorn_divergence(mapped, y, n=1000), "sinkhorn_true": sinkhorn_divergence(tx, y, n=1000)}
    if oracle:  # the same network, start, optimiser and batches regressed onto T*: what the dual could reach
        cpu = time.process_time()
        om = fit_oracle(x, pair.true_map(x).astype(np.float32), cfg, seed=0, progress=False)
        row["oracle"] = {"l2_uvp": l2_uvp(om.transport(xt), tx, y), "cpu_s": time.process_time() - cpu}
    if audit:  # on fresh points: the audit needs no true map, so it is the check a real latent map gets too
        ya = pair.true_map(pair.sample_source(3000, np.random.default_rng(9)))
        row["audit"] = audit_map(m, pair.sample_source(3000, np.random.default_rng(8)), ya, n_emd=1000, repeats=3)
    if textbook:
        t0 = time.perf_counter()
        tb = fit(x, y, transport_config(profile, max_time_s=row["time"], **TEXTBOOK), seed=0, progress=False)
        row |= {"textbook": l2_uvp(tb.transport(xt), tx, y), "textbook_time": time.perf_counter() - t0}
    if ott:
        cfg = transport_config(profile)
        res = run_ott(x, y, xt, tx, cfg.width, cfg.batch_size, budget=row["time"])
        row["ott"] = res if res is not None else "skipped (.venv-ott missing)"
    return row


def fmt(row: dict) -> str:
    ott = row.get("ott")
    ott_s = (f"{ott['l2_uvp']:.2f} ({ott['time_to_best']:.0f} s, {ott['steps']}/{ott['total_steps']} steps)"
             if isinstance(ott, dict) and "l2_uvp" in ott
             else ("error" if isinstance(ott, dict) else (ott or "-")))
    tb = f"{row['textbook']:.2f} ({row['textbook_time']:.0f} s)" if "textbook" in row else "-"
    return (f"| {row['pair']} | {row['dim']} | {row['identity']:.1f} | {row['gaussian']:.2f} | **{row['ours']:.2f}** "
            f"({row['time_to_best']:.0f} s / {row['time']:.0f} s) | {row['ours_bare_grad_g']:.2f} | {tb} | {ott_s} | "
            f"{row['w2_emd_fit']:.3f} vs {row['w2_emd_true']:.3f} | {row['sinkhorn_fit']:.3g} vs {row['sinkhorn_true']:.3g} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="profile")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="override [transport] fields after the preset (JSON values), e.g. steps=20000 precision=bf16")
    ap.add_argument("--dims", type=int, nargs="+", default=[2, 16, 64, 128])
    ap.add_argument("--pairs", nargs="+", default=["gaussian", "ridge"])
    ap.add_argument("--samples", type=int, default=0,
                    help="points per side (0: 30 000 at d >= 64, 10 000 below); a known pair can draw any number")
    ap.add_argument("--small-steps", type=int, default=2000, help="training batches for d <= 16 (0: the profile's)")
    ap.add_argument("--baseline-dims", type=int, nargs="+", default=[2, 16, 64, 128],
                    help="dimensions at which the textbook solver and OTT-JAX also run")
    ap.add_argument("--no-textbook", action="store_true")
    ap.add_argument("--no-ott", action="store_true")
    ap.add_argument("--json", default=None, help="also write the rows to this JSON file")
    ap.add_argument("--audit", action="store_true", help="add the optimality audit of every fit (a second table)")
    ap.add_argument("--oracle", action="store_true",
                    help="also regress the same network onto the true map with the same settings (fit_oracle): the "
                         "L2-UVP the solver's network reaches in the same batches when told the answer (a table)")
    ap.add_argument("--w2bench", type=int, nargs="*", default=None, metavar="D",
                    help="also run the public Mix3toMix10 pairs at these dimensions (transport_w2bench.py)")
    ap.add_argument("--w2bench-preset", default="enot", choices=sorted(w2b.PRESETS),
                    help="transport_w2bench.py's preset for those pairs (default: enot, in float32; the bf16 presets are faster)")
    args = ap.parse_args()
    print("| pair | d | identity | Gaussian map | ours: L2-UVP (time to best / total) | bare ∇g | textbook (time) | "
          "OTT-JAX (time to best) | W2 emd: T̂#P vs T*#P | Sinkhorn div: T̂#P vs T*#P |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for name in args.pairs:
        for dim in args.dims:
            base = dim in args.baseline_dims
            steps = args.small_steps if dim <= 16 and args.small_steps else None
            rows.append(bench_one(name, dim, args.profile, base and not args.no_textbook, base and not args.no_ott, steps,
                                  PRESETS[args.preset] | w2b.parse_sets(args.set), args.audit, args.oracle,
                                  args.samples))
            print(fmt(rows[-1]), flush=True)
    if args.audit:
        print(w2b.audit_table([{"dim": f"{r['pair']} {r['dim']}", "audit": r["audit"]} for r in rows]))
    if args.oracle:
        print(w2b.oracle_table([{"dim": f"{r['pair']} {r['dim']}", "oracle": r["oracle"]} for r in rows]))
    if args.w2bench:
        w2rows = [w2b.bench_dim(d, w2b.SAMPLES, w2b.preset_for(args.w2bench_preset, d), args.audit, oracle=args.oracle)
                  for d in args.w2bench]
        print(w2b.table(w2rows, args.w2bench_preset, w2b.PRESETS[args.w2bench_preset]))
        rows += w2rows
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=str))


if __name__ == "__main__":
    main()

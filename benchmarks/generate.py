"""Generator throughput, measured side by side in one process and one run.

1. bare Pythia (QCD settings, ``pythia.next()``, no record access) vs the full pipeline
   (Pythia + detector + anti-kT + soft drop + τ_N + truth + writing the ROOT file), events/s and
   their ratio, per wall-clock second and per CPU second of this process (the CPU figures are
   what a shared, busy machine cannot distort); rounds are interleaved, each keeps its best;
2. kept jets/s, events/s and acceptance (kept jets per event) for every class;
3. the whole-dataset path (Dask) with 1 and 2 workers, and the speed-up.

    .venv/bin/python benchmarks/generate.py [--events 600] [--jets 200] [--shard-jets 100]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from mindgap_lib.generation import dataset, generate
from mindgap_lib.jetclass import io
from mindgap_lib.jetclass.schema import CLASSES


def bare_pythia(n_events: int, seed: int) -> tuple[float, float]:
    """(wall, CPU) events/s of Pythia alone with the QCD settings (initialisation included, as in the pipeline)."""
    t0, c0 = time.perf_counter(), time.process_time()
    pythia = generate._make_pythia(generate.pythia_settings("QCD", "nominal", seed))
    done = sum(bool(pythia.next()) for _ in range(n_events))
    return done / (time.perf_counter() - t0), done / (time.process_time() - c0)


def pipeline(n_events: int, seed: int, out: Path) -> tuple[float, float]:
    """(wall, CPU) events/s of the full chain, writing a file, for (about) `n_events` QCD events."""
    t0, c0 = time.perf_counter(), time.process_time()
    jets, info = generate.generate_jets("QCD", "nominal", int(0.7 * n_events), seed, log=True)
    io.write_jets(out, jets, {"benchmark": True})
    return info["events"] / (time.perf_counter() - t0), info["events"] / (time.process_time() - c0)


def per_class(n_jets: int, seed: int) -> dict[str, dict[str, float]]:
    rows = {}
    for name in CLASSES:
        t0, c0 = time.perf_counter(), time.process_time()
        _, info = generate.generate_jets(name, "nominal", n_jets, seed, log=True)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        rows[name] = {"jets_per_s": n_jets / dt, "jets_per_cpu_s": n_jets / cpu, "events_per_s": info["events"] / dt,
                      "acceptance": info["jets_accepted"] / info["events"]}
    return rows


def workers(shard_jets: int, tmp: Path) -> dict[str, dict[int, float]]:
    """Dataset jets/s with 1 and 2 Dask workers (wall clock), plus the CPU seconds each run cost
    (this process and its worker processes), from which the speed-up on idle cores follows."""
    prof = {"generate": {"jets_per_shard": shard_jets, "train_jets_per_class": shard_jets, "calib_jets": 2 * shard_jets,
                         "calib_variations": ["nominal"], "workers": 1, "seed": 1, "max_batch": 200}}
    total = sum(s.n_jets for s in dataset.plan(prof))
    wall, cpu = {}, {}
    for n in (1, 2):
        folder = tmp / f"workers{n}"
        t0, c0 = time.perf_counter(), os.times()
        dataset.generate_dataset(prof, folder, workers=n, progress=False)
        c1 = os.times()
        wall[n] = total / (time.perf_counter() - t0)
        cpu[n] = sum(getattr(c1, k) - getattr(c0, k) for k in ("user", "system", "children_user", "children_system"))
        shutil.rmtree(folder)
    return {"jets_per_s": wall, "cpu_s": cpu}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=600, help="QCD events per bare/pipeline round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--jets", type=int, default=200, help="jets per class for the per-class table")
    ap.add_argument("--shard-jets", type=int, default=100, help="jets per shard in the worker test (12 shards)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bare, full = [], []
        for r in range(args.rounds):
            bare.append(bare_pythia(args.events, seed=100 + r))
            full.append(pipeline(args.events, seed=100 + r, out=tmp / "bench.root"))
        classes = per_class(args.jets, seed=7)
        speed = workers(args.shard_jets, tmp)
    rate, cpu = speed["jets_per_s"], speed["cpu_s"]
    res = {"classes": classes, "dataset": speed, "worker_speedup": rate[2] / rate[1],
           "worker_speedup_idle_cores": 2 * cpu[1] / cpu[2]}
    print(f"\n{'QCD events/s':16s} {'bare Pythia':>12s} {'pipeline':>9s} {'ratio':>6s}")
    for i, clock in enumerate(("wall", "cpu")):
        b, f = max(x[i] for x in bare), max(x[i] for x in full)
        res[clock] = {"bare_events_per_s": b, "pipeline_events_per_s": f, "ratio": f / b}
        print(f"{'per ' + clock + ' second':16s} {b:12.1f} {f:9.1f} {f / b:6.2f}")
    print(f"\n{'class':6s} {'jets/s':>8s} {'jets/cpu-s':>11s} {'events/s':>9s} {'jets/event':>11s}")
    for name, row in classes.items():
        print(f"{name:6s} {row['jets_per_s']:8.1f} {row['jets_per_cpu_s']:11.1f} {row['events_per_s']:9.1f} "
              f"{row['acceptance']:11.2f}")
    print(f"\ndataset (Dask) jets/s: 1 worker {rate[1]:.1f} | 2 workers {rate[2]:.1f} | speed-up {res['worker_speedup']:.2f}"
          f"\n  CPU seconds: 1 worker {cpu[1]:.1f} | 2 workers {cpu[2]:.1f} (incl. worker start-up)"
          f" -> speed-up on 2 idle cores {res['worker_speedup_idle_cores']:.2f}")
    print(f"\nload average (1 min) at start {load0:.1f}, at end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
          " (a shared machine: wall-clock figures are depressed when it is busy)")
    res["load_average"] = [load0, os.getloadavg()[0]]
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()

"""`mindgap fit-transport`: learn the OT map from the source latents to the target latents."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import section_with, writable_folder

__all__ = ["register"]


def _fit(args: argparse.Namespace) -> int:
    from ..config import load_profile
    from ..transport.fitting import fit_latents

    prof = load_profile(args.profile)
    cfg = section_with(prof.transport, args.set)
    out = writable_folder(args.out)
    latents = Path(args.latents)
    m = fit_latents(latents / f"{args.source}.npz", latents / f"{args.target}.npz", out, cfg, layer=args.layer,
                    split=None if args.all_rows else prof.split, seed=args.seed, device=args.device,
                    progress=not args.quiet)
    print(f"transport {args.layer} (d={m['dim']}, fitted on {m['n_fit_source']} -> {m['n_fit_target']} jets) -> {out}: "
          f"W2 {m['w2_init']:.4g} (Gaussian init) -> {m['w2']:.4g}, best step {m['best_step']}, "
          f"trained in {m['train_time_s']:.0f} s" + ("  [DIVERGED: best checkpoint kept]" if m["diverged"] else ""))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "fit-transport", help="fit the ICNN optimal-transport map source -> target on tagger latents",
        description="Fit the Brenier map between LATENTS/<source>.npz[LAYER] and LATENTS/<target>.npz[LAYER] "
                    "with a pair of input-convex networks on the Kantorovich dual, on the fit rows of the "
                    "profile's [split] (the rest stays for the evaluation). Writes OUT/map/ (weights.pt + "
                    "config.json), OUT/calibrated.npz (every source row, transported) and OUT/metrics.json.")
    p.add_argument("--latents", required=True, help="folder with <source>.npz and <target>.npz (from `mindgap latents`)")
    p.add_argument("--source", default="nominal", help="source sample (default nominal)")
    p.add_argument("--target", default="target", help="target sample (default target)")
    p.add_argument("--layer", default="z128", help="array to transport (default z128)")
    p.add_argument("--profile", default="cpu", help="profile name or TOML path; its [transport] and [split] (default: cpu)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    p.add_argument("--seed", type=int, default=0, help="seed of initialisation, validation split and batches (default 0)")
    p.add_argument("--all-rows", action="store_true", help="fit on every row (no evaluation can then be leak-free)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a [transport] key, e.g. --set steps=200 (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_fit)

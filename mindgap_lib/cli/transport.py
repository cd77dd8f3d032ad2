"""`mindgap fit-transport`: learn the OT map from the source latents to the target latents."""

from __future__ import annotations

import argparse

from ._common import parse_overrides as _overrides

__all__ = ["register"]



def _fit(args: argparse.Namespace) -> int:
    from ..transport import fit_latents

    m = fit_latents(args.latents, args.out, layer=args.layer, profile=args.profile, seed=args.seed,
                    device=args.device, progress=not args.quiet, **_overrides(args.set))
    print(f"transport {args.layer} (d={m['dim']}, {m['n_source']} -> {m['n_target']} samples) -> {args.out}: "
          f"W2 {m['w2_init']:.4g} (Gaussian init) -> {m['w2']:.4g}, best step {m['best_step']}, "
          f"trained in {m['train_time_s']:.0f} s" + ("  [DIVERGED: best checkpoint kept]" if m["diverged"] else ""))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "fit-transport", help="fit the ICNN optimal-transport map source -> target on tagger latents",
        description="Fit the Brenier map between LATENTS/nominal.npz[LAYER] and LATENTS/target.npz[LAYER] "
                    "with a pair of input-convex networks on the Kantorovich dual. Writes OUT/map/ "
                    "(weights.pt + config.json), OUT/calibrated.npz (the transported source under LAYER) "
                    "and OUT/metrics.json.")
    p.add_argument("--latents", required=True, help="folder with nominal.npz and target.npz (from `mindgap latents`)")
    p.add_argument("--layer", default="z128", help="array to transport (default z128)")
    p.add_argument("--profile", default="cpu", help="profile name or TOML path; its [transport] section (default: cpu)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    p.add_argument("--seed", type=int, default=0, help="seed of initialisation, split and batches (default 0)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a [transport] key, e.g. --set steps=200 (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_fit)

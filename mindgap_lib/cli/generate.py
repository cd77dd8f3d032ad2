"""`mindgap generate`: one shard of jets, or a profile's whole dataset."""

from __future__ import annotations

import argparse

from ._common import UsageError, writable_folder

__all__ = ["register", "handler"]

EPILOG = """examples:
  mindgap generate --process QCD --variation target --jets 1000 --seed 7 --out qcd_target.root
  mindgap generate --profile cpu --out data/ --workers 2

classes: QCD Hbb Hcc Hgg H4q Hqql Zqq Wqq Tbqq Tbl
calibration process: QCD_multijet (Pythia HardQCD:all, the paper's calibration sample)
variations: nominal target target_nominal_errors ip_only scale_only ip10 ip20 ip30 ip100 ip300
A dataset run is resumable: finished shard files are kept, unfinished ones are redone."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "generate", help="generate JetClass-layout jets (Pythia 8 + CMS-like detector + anti-kT R=0.8)",
        description="Generate jets in the JetClass ROOT layout: one shard (--process) or the whole dataset "
        "of a profile (--profile), written atomically.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--process", help="one class: write a single shard to --out (a .root file)")
    what.add_argument("--profile", help="tiny | cpu | paper | path.toml: write the whole dataset under --out (a folder)")
    p.add_argument("--out", required=True, help="output .root file (--process) or data folder (--profile)")
    p.add_argument("--variation", help="variation preset for --process (default: nominal)")
    p.add_argument("--jets", type=int, help="jets to keep for --process (default: 1000)")
    p.add_argument("--seed", type=int, help="random seed for --process (default: 0)")
    p.add_argument("--workers", type=int, default=None, help="parallel shards for --profile (default: the profile's)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=handler)


def handler(args: argparse.Namespace) -> int:
    if args.profile:
        from ..config import load_profile
        from ..generation.dataset import generate_dataset

        single = [f"--{k}" for k in ("variation", "jets", "seed") if getattr(args, k) is not None]
        if single:
            raise UsageError(f"{', '.join(single)} apply to --process only; a profile sets its own sizes and seeds")
        if args.workers is not None and args.workers < 1:
            raise UsageError(f"--workers must be >= 1, got {args.workers}")
        cfg = load_profile(args.profile).generate
        paths = generate_dataset(cfg, writable_folder(args.out), workers=args.workers, progress=not args.quiet)
        print(f"{len(paths)} shard files under {args.out}")
        return 0
    from ..generation.generate import generate_shard

    if args.workers is not None:
        raise UsageError("--workers applies to --profile only (one shard runs in one process)")
    variation = args.variation or "nominal"
    jets = 1000 if args.jets is None else args.jets
    if jets < 1:
        raise UsageError(f"--jets must be >= 1, got {jets}")
    if args.seed is not None and args.seed < 0:
        raise UsageError(f"--seed must be >= 0, got {args.seed}")
    path = generate_shard(args.process, variation, jets, 0 if args.seed is None else args.seed, args.out,
                          progress=not args.quiet)
    print(f"wrote {jets} {args.process} jets ({variation}) to {path}")
    return 0

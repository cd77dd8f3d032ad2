"""`mindgap evaluate` and `mindgap smearing-scan`: closure tests of the calibrated latent."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import UsageError, parse_overrides, writable_folder

__all__ = ["register"]


def _fmt(auc: dict) -> str:
    return f"{auc['value']:.3f} ± {auc['err']:.3f}"


def _config(args: argparse.Namespace):
    """The profile's [evaluate] with ``--set`` overrides of it or of its discriminator."""
    from ..config import load_profile

    prof = load_profile(args.profile)
    cfg, sets = prof.evaluate, parse_overrides(args.set)
    disc = {k: v for k, v in sets.items() if k in cfg.discriminator.as_dict()}
    own = {k: v for k, v in sets.items() if k not in disc}
    return prof, cfg.replace(**own, discriminator=cfg.discriminator.replace(**disc))


def _evaluate(args: argparse.Namespace) -> int:
    from ..evaluate.run import evaluate

    prof, cfg = _config(args)
    out = writable_folder(args.out)
    latents = Path(args.latents)
    m = evaluate(args.tagger, latents / "nominal.npz", latents / "target.npz", args.transport, out, cfg, prof.split,
                 post_transport=args.post_transport, seed=args.seed, device=args.device, progress=not args.quiet)
    layers = m["layers"]["evaluated"]
    print(f"{'AUC':22s} " + " ".join(f"{layer:>15s}" for layer in layers))
    for comp, row in m["auc"].items():
        print(f"{comp:22s} " + " ".join(f"{_fmt(row[layer]):>15s}" for layer in layers))
    for name, c in m["closure"].items():
        print(f"{name:16s} W1 excess over the floor: source {c['w1_excess_source']:.4f}  calibrated "
              f"{c['w1_excess_calibrated']:.4f}  vertical {c['w1_excess_vertical']:.4f}  (floor {c['w1_null']:.4f})")
    print(f"vertical ESS fraction ({layers[0]} weights): {m['vertical']['ess_fraction']:.4f}")
    print(f"-> {out}/metrics.json in {m['info']['seconds']:.0f} s")
    return 0


def _scan(args: argparse.Namespace) -> int:
    from ..evaluate.scan import smearing_scan

    prof, cfg = _config(args)
    latents = Path(args.latents)
    variations = args.variations or list(prof.scan.variations)
    missing = [v for v in variations if not (latents / f"{v}.npz").is_file()]
    if missing:
        raise UsageError(f"--latents {latents}: no {', '.join(f'{v}.npz' for v in missing)} (run `mindgap latents`)")
    out = writable_folder(args.out)
    r = smearing_scan(args.tagger, latents / "nominal.npz", {v: latents / f"{v}.npz" for v in variations}, cfg,
                      prof.scan, prof.transport, prof.split, seed=args.seed, device=args.device,
                      progress=not args.quiet, out_dir=out)
    for p in r["points"]:
        c = p["closure"]["log_pHbb_pQCD"]
        print(f"{p['variation']:6s} strength {p['strength']:.2f}: AUC {_fmt(p['auc_source_vs_target'])}, "
              f"ESS {p['ess_fraction']:.3f}, W1 excess (log pHbb/pQCD) source {c['w1_excess_source']:.4f} "
              f"horizontal {c['w1_excess_calibrated']:.4f} vertical {c['w1_excess_vertical']:.4f}")
    print(f"-> {out}/scan.json")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tagger", required=True, help="tagger folder (holds tagger.pt) from `mindgap train-tagger`")
    p.add_argument("--latents", required=True, help="latents folder from `mindgap latents` (nominal.npz, target.npz, ...)")
    p.add_argument("--profile", default="cpu", help="profile name or TOML path: [evaluate], [split], ... (default: cpu)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    p.add_argument("--seed", type=int, default=0, help="seed of the folds and discriminators (default 0)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override an [evaluate] or [evaluate.discriminator] key, e.g. --set epochs=5 (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", help="closure tests of a calibration: discriminator AUCs, physics LLRs, vertical weights, PCA",
        description="On the eval rows of the profile's [split] only (no map saw them): cross-fitted "
                    "discriminators source/calibrated/independent-target vs target on the first head layer, the "
                    "penultimate layer and the logits; the physics log-likelihood ratios (W1 and its excess over "
                    "the floor, chi2/ndf) of source, calibrated (horizontal) and reweighted (vertical) source; ESS "
                    "of the weights; PCA corner data. Writes OUT/metrics.json, figures.json, pca.json, rows.npz.")
    _common(p)
    p.add_argument("--transport", required=True, help="transport folder from `mindgap fit-transport` (its map/ is used)")
    p.add_argument("--post-transport", default=None,
                   help="optional transport folder fitted on z128_post: adds the pre- vs post-activation study")
    p.set_defaults(func=_evaluate)

    s = subparsers.add_parser(
        "smearing-scan", help="vertical vs horizontal calibration against targets of growing d0 smearing",
        description="For each variation (default: the profile's [scan] variations) cross-fit the "
                    "source-vs-variation discriminator (ESS of its weights) and fit a transport map on the fit rows "
                    "(horizontal); compare their closure on the eval rows. Writes OUT/scan.json.")
    _common(s)
    s.add_argument("--variations", nargs="*", default=[], help="variation names (LATENTS/<name>.npz must exist)")
    s.set_defaults(func=_scan)

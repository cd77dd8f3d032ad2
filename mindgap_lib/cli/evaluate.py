"""`mindgap evaluate` and `mindgap smearing-scan`: closure tests of the calibrated latent."""

from __future__ import annotations

import argparse

from ._common import parse_overrides as _overrides

__all__ = ["register"]



def _fmt(auc: dict) -> str:
    return f"{auc['value']:.3f} ± {auc['err']:.3f}"


def _evaluate(args: argparse.Namespace) -> int:
    from ..evaluate import evaluate

    m = evaluate(args.tagger, args.latents, args.transport, args.out, profile=args.profile, device=args.device,
                 seed=args.seed, progress=not args.quiet, post_transport_dir=args.post_transport, **_overrides(args.set))
    print(f"{'AUC':22s} {'z128':>15s} {'penultimate':>15s} {'logits':>15s}")
    for comp, row in m["auc"].items():
        print(f"{comp:22s} " + " ".join(f"{_fmt(row[layer]):>15s}" for layer in ("z128", "penultimate", "logits")))
    for name, c in m["closure"].items():
        print(f"{name:16s} W1 source {c['w1_source']:.4f}  calibrated {c['w1_calibrated']:.4f}  "
              f"vertical {c['w1_vertical']:.4f}  (null {c['w1_null']:.4f})")
    print(f"vertical ESS fraction (z128 weights): {m['vertical']['ess_fraction']:.4f}")
    print(f"-> {args.out}/metrics.json in {m['info']['seconds']:.0f} s")
    return 0


def _scan(args: argparse.Namespace) -> int:
    from ..evaluate import smearing_scan

    r = smearing_scan(args.tagger, args.latents, args.variations or None, profile=args.profile, device=args.device,
                      seed=args.seed, progress=not args.quiet, out_dir=args.out, **_overrides(args.set))
    for p in r["points"]:
        w1 = p["closure"]["log_pHbb_pQCD"]
        print(f"{p['variation']:6s} strength {p['strength']:.2f}: AUC(z128) {_fmt(p['auc_source_vs_target_z128'])}, "
              f"ESS {p['ess_fraction']:.3f}, W1(log pHbb/pQCD) source {w1['w1_source']:.4f} "
              f"horizontal {w1['w1_horizontal']:.4f} vertical {w1['w1_vertical']:.4f}")
    print(f"-> {args.out}/scan.json")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tagger", required=True, help="tagger folder (holds tagger.pt) from `mindgap train-tagger`")
    p.add_argument("--latents", required=True, help="latents folder from `mindgap latents` (nominal.npz, target.npz, ...)")
    p.add_argument("--profile", default="cpu", help="profile name or TOML path; its [evaluate] section (default: cpu)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    p.add_argument("--seed", type=int, default=0, help="seed of the splits and discriminators (default 0)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override an [evaluate] or [evaluate.discriminator] key, e.g. --set epochs=5 (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", help="closure tests of a calibration: discriminator AUCs, physics LLRs, vertical weights, PCA",
        description="Train discriminators source/calibrated/target-half vs target on z128, penultimate and "
                    "logits; compare the physics log-likelihood ratios (W1, chi2/ndf) of source, calibrated "
                    "(horizontal) and reweighted (vertical) source to the target; ESS of the weights; PCA "
                    "corner data. Writes OUT/metrics.json, OUT/figures.json and OUT/pca.json.")
    _common(p)
    p.add_argument("--transport", required=True, help="transport folder from `mindgap fit-transport` (its map/ is used)")
    p.add_argument("--post-transport", default=None,
                   help="optional transport folder fitted on z128_post: adds the pre- vs post-activation study")
    p.set_defaults(func=_evaluate)
    s = subparsers.add_parser(
        "smearing-scan", help="vertical vs horizontal calibration against targets of growing IP smearing",
        description="For each variation (default: the profile's scan_variations, e.g. ip10 ip20 ip30) train "
                    "the source-vs-variation discriminator on z128 (ESS of its weights) and fit a transport "
                    "map (horizontal); compare their closure on held-out jets. Writes OUT/scan.json.")
    _common(s)
    s.add_argument("--variations", nargs="*", default=[], help="variation names (latents/<name>.npz must exist)")
    s.set_defaults(func=_scan)

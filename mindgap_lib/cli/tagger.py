"""`mindgap train-tagger` and `mindgap latents`: train the jet tagger, then extract its latents."""

from __future__ import annotations

import argparse

from ._common import section_with, writable_folder

__all__ = ["register"]


def _train(args: argparse.Namespace) -> int:
    from ..config import load_profile
    from ..tagger.train import train_tagger

    prof = load_profile(args.profile)
    tagger = prof.tagger
    if args.set:  # a key belongs to the architecture or to the training
        model_keys = set(tagger.model.as_dict())
        mine = [s for s in args.set if s.partition("=")[0] in model_keys]
        tagger = tagger.replace(model=section_with(tagger.model, mine),
                                train=section_with(tagger.train, [s for s in args.set if s not in mine]))
    out = writable_folder(args.out)
    m = train_tagger(tagger, args.data, out, device=args.device, seed=args.seed, progress=not args.quiet)
    rej = m["rejection_at_50"].get("Hbb")
    print(f"tagger -> {out}/tagger.pt: accuracy {m['accuracy']:.3f}, macro AUC {m['macro_auc']:.4f}, "
          f"Hbb vs QCD AUC {m['auc_vs_qcd']['Hbb']}, Hbb rejection@50% {rej}, "
          f"trained in {m['training_time_s']:.0f} s")
    return 0


def _latents(args: argparse.Namespace) -> int:
    from ..tagger.latents import extract_latents

    out = writable_folder(args.out)
    result = extract_latents(args.tagger, args.data, out, args.variations, device=args.device)
    for variation, info in result.items():
        print(f"{variation}: {info['n_jets']} jets -> {info['path']}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "train-tagger", help="train the transformer jet tagger on a dataset's nominal jets",
        description="Train the class-token transformer tagger on DATA/train/nominal (all ten classes; "
                    "train/validation/test split inside). Writes OUT/tagger.pt (weights, architecture and the "
                    "input transform), OUT/metrics.json and OUT/test_scores.npz. An interrupted run resumes "
                    "from OUT/checkpoint.pt.")
    p.add_argument("--profile", default="cpu", help="profile name or TOML path; its [tagger] section (default: cpu)")
    p.add_argument("--data", required=True, help="dataset folder written by `mindgap generate`")
    p.add_argument("--out", required=True, help="output folder for the trained tagger")
    p.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, initialisation and batches (default 0)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a [tagger.model] or [tagger.train] key, e.g. --set steps=200 (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)

    q = subparsers.add_parser(
        "latents", help="run a trained tagger over the calibration QCD jets and save its latents",
        description="Run the frozen tagger over DATA/calib/<variation>/QCD_*.root and write its head layers "
                    "(z128, z128_post, penultimate, logits for a 128-wide head), jet_pt and jet_eta, float32, "
                    "to OUT/<variation>.npz (OUT/nominal.npz is the source).")
    q.add_argument("--tagger", required=True, help="folder holding tagger.pt (from train-tagger)")
    q.add_argument("--data", required=True, help="dataset folder written by `mindgap generate`")
    q.add_argument("--out", required=True, help="output folder for the .npz files")
    q.add_argument("--device", default="cpu", help="torch device: cpu (default) or cuda")
    q.add_argument("--variations", nargs="+", default=["nominal", "target"],
                   help="calibration variations to process (default: nominal target)")
    q.set_defaults(func=_latents)

"""Latents of the frozen tagger on held-out calibration QCD jets: what the transport map calibrates."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np

from .checkpoint import TaggerError, load
from .features import load_features
from .train import predict, resolve_device

__all__ = ["LATENT_KEYS", "latent_file", "extract_latents"]

LATENT_KEYS = ("z128", "z128_post", "penultimate", "logits")


def latent_file(variation: str) -> str:
    """``<variation>.npz``: latents are named by the variation they come from (``nominal.npz`` is the source)."""
    return f"{variation}.npz"


def _calib_files(data_dir: str | os.PathLike, variation: str) -> list[Path]:
    if not Path(data_dir).is_dir():
        raise TaggerError(f"data directory {str(data_dir)!r} does not exist (make it with `mindgap generate`)")
    from ..generation.dataset import files

    found = files(data_dir, "calib", variation, "QCD")
    if not found:
        raise TaggerError(f"{data_dir}: no QCD files under calib/{variation}/ (is {variation!r} in [generate].calib_variations?)")
    return list(found)


def extract_latents(tagger_dir: str | os.PathLike, data_dir: str | os.PathLike, out_dir: str | os.PathLike,
                    device: str = "cpu", variations: Iterable[str] = ("nominal", "target"),
                    batch_size: int = 1000) -> dict:
    """Run the frozen tagger over ``data_dir/calib/<variation>/QCD_*.root`` for each variation.

    The calibration jets come from their own seeds, disjoint from the tagger's training jets.
    Each variation's float32 ``z128``, ``z128_post``, ``penultimate``, ``logits``, ``jet_pt`` and
    ``jet_eta`` go to ``out_dir/<latent_file(variation)>``, written atomically.

    Returns:
        ``{variation: {"path": ..., "n_jets": ...}}``.
    """
    dev = resolve_device(device)
    model = load(tagger_dir, dev)
    variations = list(variations)
    paths = {v: _calib_files(data_dir, v) for v in variations}  # check all inputs before the slow part
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = {}
    for variation in variations:
        feats = load_features(paths[variation], model.config.num_particles, with_labels=False,
                              transform=model.input_transform)
        arrays = predict(model, feats, batch_size=batch_size, device=dev)
        arrays = {k: arrays[k].astype(np.float32) for k in LATENT_KEYS}
        arrays.update(jet_pt=feats.jet_pt.astype(np.float32), jet_eta=feats.jet_eta.astype(np.float32))
        target = out / latent_file(variation)
        tmp = target.with_name(target.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, target)
        result[variation] = {"path": str(target), "n_jets": len(feats)}
    return result

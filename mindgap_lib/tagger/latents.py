"""Latents of the frozen tagger on held-out calibration QCD jets: what the transport map calibrates."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np

from ..util.atomic import atomic_write_npz
from ..util.torch_env import resolve_device
from .checkpoint import load
from .config import TaggerError, layers_of
from .features import load_features
from .train import predict

__all__ = ["LATENT_KEYS", "latent_file", "extract_latents", "latents_of_files"]

LATENT_KEYS = layers_of(128).all  # the layers of the paper's width; taggers of another width: layers_of(config)


def latent_file(variation: str) -> str:
    """``<variation>.npz``: latents are named by the variation they come from (``nominal.npz`` is the source)."""
    return f"{variation}.npz"


def _calib_files(data_dir: str | os.PathLike, variation: str) -> list[Path]:
    if not Path(data_dir).is_dir():
        raise TaggerError(f"data directory {str(data_dir)!r} does not exist (make it with `mindgap generate`)")
    from ..generation.dataset import files

    return list(files(data_dir, "calib", variation, "QCD"))


def latents_of_files(model, paths: list[Path], device="cpu", batch_size: int = 1000) -> dict[str, np.ndarray]:
    """Every head layer of `model` (float32) plus ``jet_pt`` and ``jet_eta`` for the jets of `paths`."""
    feats = load_features(paths, model.config.num_particles, with_labels=False, transform=model.input_transform)
    arrays = predict(model, feats, batch_size=batch_size, device=device)
    out = {k: arrays[k].astype(np.float32) for k in layers_of(model.config).all}
    out.update(jet_pt=feats.jet_pt.astype(np.float32), jet_eta=feats.jet_eta.astype(np.float32))
    return out


def extract_latents(tagger_dir: str | os.PathLike, data_dir: str | os.PathLike, out_dir: str | os.PathLike,
                    variations: Iterable[str] = ("nominal", "target"), *, device: str = "cpu",
                    batch_size: int = 1000) -> dict:
    """Run the frozen tagger over ``data_dir/calib/<variation>/QCD_*.root`` for each variation.

    The calibration jets come from their own seeds, disjoint from the tagger's training jets.
    Each variation's head layers (``z128``, ``z128_post``, ``penultimate``, ``logits`` for the
    paper's width), ``jet_pt`` and ``jet_eta`` go to ``out_dir/<variation>.npz``, written atomically.

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
        arrays = latents_of_files(model, paths[variation], dev, batch_size)
        target = atomic_write_npz(out / latent_file(variation), **arrays)
        result[variation] = {"path": str(target), "n_jets": len(arrays["jet_pt"])}
    return result

"""Saving and loading the tagger: plain state dicts plus a config dict (``weights_only`` safe)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import torch

from ..jetclass.schema import CLASSES
from ..util.atomic import atomic_torch_save
from .config import TaggerConfig, TaggerError
from .features import JET_FEATURES, PARTICLE_FEATURES, FeatureError, InputTransform
from .model import Tagger

__all__ = ["TaggerError", "FORMAT", "TAGGER_FILE", "save_tagger", "read_checkpoint", "load"]

FORMAT = "mindgap-tagger/2"  # /2: the input transform travels with the weights
TAGGER_FILE = "tagger.pt"


def save_tagger(model: Tagger, path: str | os.PathLike, extra: Mapping[str, Any] | None = None) -> Path:
    """Write the state dict, the architecture and the input definition (names, class order, and the
    input transform held in ``model.input_transform``), as plain tensors and strings."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    transform = model.input_transform
    if transform is None:
        raise TaggerError("save_tagger: the model has no input transform (fit one with fit_input_transform)")
    return atomic_torch_save({
        "input_transform": transform.state(),
        "format": FORMAT,
        "config": {"model": model.config.as_dict(), **dict(extra or {})},
        "classes": list(CLASSES),
        "particle_features": list(PARTICLE_FEATURES),
        "jet_features": list(JET_FEATURES),
        "state_dict": state,
    }, path)


def read_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> dict:
    """The raw checkpoint dict of ``path`` (a file, or a folder holding ``tagger.pt``)."""
    path = Path(path)
    if path.is_dir():
        path = path / TAGGER_FILE
    if not path.is_file():
        raise TaggerError(f"{path}: no tagger checkpoint (train one with `mindgap train-tagger`)")
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:
        raise TaggerError(f"{path}: not a readable tagger checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise TaggerError(f"{path}: not a {FORMAT} checkpoint (format={ckpt.get('format') if isinstance(ckpt, dict) else type(ckpt).__name__})")
    for key, want in (("classes", list(CLASSES)), ("particle_features", list(PARTICLE_FEATURES)),
                      ("jet_features", list(JET_FEATURES))):
        if list(ckpt.get(key, [])) != want:
            raise TaggerError(f"{path}: checkpoint {key} {ckpt.get(key)} differ from this code's {want}")
    return ckpt


def _check_state(model: Tagger, state: Mapping[str, torch.Tensor], where: str) -> None:
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
              if k in state and state[k].shape != v.shape]
    if missing or unexpected or shapes:
        detail = "; ".join(filter(None, [
            f"missing {', '.join(missing[:5])}" if missing else "",
            f"unexpected {', '.join(unexpected[:5])}" if unexpected else "",
            f"shape mismatch (checkpoint vs config) {', '.join(shapes[:5])}" if shapes else ""]))
        raise TaggerError(f"{where}: weights do not match the stored config {model.config.as_dict()}: {detail}")


def load(path_or_dir: str | os.PathLike, device: str | torch.device = "cpu") -> Tagger:
    """The trained tagger of ``path_or_dir`` (``tagger.pt`` or its folder), in eval mode on `device`."""
    ckpt = read_checkpoint(path_or_dir, device)
    where = str(path_or_dir)
    try:
        config = TaggerConfig.from_mapping(ckpt["config"]["model"], f"{where}: model config")
    except (KeyError, TypeError, ValueError) as err:
        raise TaggerError(f"{where}: bad model config in checkpoint: {err}") from None
    try:
        transform = InputTransform.from_state(ckpt["input_transform"])
    except (KeyError, FeatureError) as err:
        raise TaggerError(f"{where}: no usable input transform in checkpoint ({err})") from None
    model = Tagger(config, transform)
    _check_state(model, ckpt["state_dict"], where)
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device).eval()

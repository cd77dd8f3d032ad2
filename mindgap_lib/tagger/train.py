"""Training the tagger on the nominal dataset: split, AdamW, warm-up + cosine, resumable checkpoints."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..config import apply_overrides, build_dataclass, load_profile
from .checkpoint import TAGGER_FILE, TaggerError, atomic_save, save_tagger
from .features import Features, fit_input_transform, load_features
from .metrics import tagging_metrics
from .model import Tagger, TaggerConfig

__all__ = ["TrainConfig", "tagger_config", "resolve_device", "predict", "train_tagger", "CHECKPOINT_FILE"]

CHECKPOINT_FILE = "checkpoint.pt"


@dataclass
class TrainConfig:
    """Optimisation of the tagger (Table 1 of the paper for the ``paper`` profile)."""

    lr: float = 5e-4
    weight_decay: float = 1e-2
    warmup_steps: int = 10_000
    steps: int = 100_000
    batch_size: int = 1000
    clip: float = 1.0           # gradient-norm clipping
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    eval_every: int = 1000      # steps between validation passes (also the loss-history resolution)
    checkpoint_every: int = 1000
    transform_knots: int = 512  # quantile knots per feature of the input transform

    def __post_init__(self) -> None:
        if not (0 < self.val_fraction and 0 < self.test_fraction and self.val_fraction + self.test_fraction < 1):
            raise ValueError(f"tagger: need 0 < val_fraction, test_fraction and their sum < 1, got "
                             f"{self.val_fraction}, {self.test_fraction}")
        for name in ("steps", "batch_size", "eval_every", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"tagger: {name} must be >= 1, got {getattr(self, name)}")


def tagger_config(profile: str | os.PathLike | Mapping[str, Any], **overrides: Any) -> tuple[TaggerConfig, TrainConfig]:
    """The ``[tagger]`` section of a profile, with overrides, as (architecture, optimisation)."""
    values = apply_overrides(load_profile(profile).get("tagger", {}), overrides, where="tagger override(s)")
    model_keys = {f.name for f in dataclasses.fields(TaggerConfig)}
    model = build_dataclass(TaggerConfig, {k: v for k, v in values.items() if k in model_keys}, "[tagger]")
    train = build_dataclass(TrainConfig, {k: v for k, v in values.items() if k not in model_keys}, "[tagger]")
    return model, train


def resolve_device(device: str | torch.device) -> torch.device:
    """A usable torch device; on CPU use every core this process may run on (or OMP_NUM_THREADS)."""
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise TaggerError(f"device {str(device)!r} is not a torch device ({err})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise TaggerError(f"device {str(device)!r} requested but CUDA is not available here (use device='cpu')")
    if dev.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        torch.set_num_threads(max(1, cores))
    return dev


def _train_files(data_dir: str | os.PathLike) -> list[Path]:
    if not Path(data_dir).is_dir():
        raise TaggerError(f"data directory {str(data_dir)!r} does not exist (make it with `mindgap generate --profile P --out DIR`)")
    from ..generation.dataset import files

    found = files(data_dir, "train", "nominal")
    if not found:
        raise TaggerError(f"{data_dir}: no nominal training files under train/nominal/")
    return list(found)


def _split(n: int, cfg: TrainConfig, seed: int) -> dict[str, torch.Tensor]:
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val, n_test = max(1, round(cfg.val_fraction * n)), max(1, round(cfg.test_fraction * n))
    if n - n_val - n_test < 1:
        raise TaggerError(f"only {n} jets: too few for a train/validation/test split")
    return {"val": perm[:n_val], "test": perm[n_val:n_val + n_test], "train": perm[n_val + n_test:]}


def _batch_indices(train: torch.Tensor, step: int, batch: int, seed: int) -> torch.Tensor:
    """Rows of step `step`: epochs are seeded permutations, so resuming needs only the step."""
    n = len(train)
    pos = torch.arange(step * batch, (step + 1) * batch)
    epoch, out = pos // n, torch.empty(batch, dtype=torch.long)
    for e in epoch.unique().tolist():
        sel = epoch == e
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + e))
        out[sel] = train[perm[pos[sel] % n]]
    return out


def _lr(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to ``lr``, then cosine decay to zero at ``steps``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return 0.5 * cfg.lr * (1 + math.cos(math.pi * min(t, 1.0)))


def _optimizer(model: Tagger, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on biases, norms or the class token)."""
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and n != "cls_token"]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and n != "cls_token")]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": rest, "weight_decay": 0.0}], lr=cfg.lr)


@torch.inference_mode()
def predict(model: Tagger, feats: Features, rows: torch.Tensor | None = None, batch_size: int = 1000,
            device: str | torch.device = "cpu") -> dict[str, np.ndarray]:
    """All latents of `rows` (default: every jet) in eval mode, as float32 numpy arrays.

    Jets are batched by similar multiplicity so that little padding is computed; the
    outputs come back in the order of `rows`.
    """
    rows = torch.arange(len(feats)) if rows is None else rows.cpu()  # indices stay on the CPU
    order = torch.argsort(feats.mask[rows].sum(1).cpu(), stable=True)
    was_training = model.training
    model.eval()
    out: dict[str, list] = {}
    for i in range(0, len(rows), batch_size):
        for k, v in model.latents(feats.batch(rows[order[i:i + batch_size]], device)).items():
            out.setdefault(k, []).append(v.float().cpu().numpy())
    model.train(was_training)
    inverse = torch.argsort(order).cpu().numpy()
    return {k: np.concatenate(v)[inverse] for k, v in out.items()}


def _validate(model: Tagger, feats: Features, rows: torch.Tensor, cfg: TrainConfig, device) -> dict[str, float]:
    logits = torch.from_numpy(predict(model, feats, rows, cfg.batch_size, device)["logits"])
    y = feats.labels[rows].cpu()
    return {"val_loss": float(F.cross_entropy(logits, y)), "val_accuracy": float((logits.argmax(1) == y).float().mean())}


def _resume(out_dir: Path, config: dict, model: Tagger, opt: torch.optim.Optimizer, device) -> dict:
    """Restore a checkpoint left by an interrupted run of the same config (else start at step 0)."""
    path = out_dir / CHECKPOINT_FILE
    if not path.is_file():
        return {"step": 0, "history": [], "elapsed": 0.0}
    ckpt = torch.load(path, map_location=device, weights_only=True)
    if ckpt.get("config") != config:
        diff = sorted(k for k in set(config) | set(ckpt.get("config", {})) if config.get(k) != ckpt.get("config", {}).get(k))
        raise TaggerError(f"{path}: checkpoint of a different configuration (differs in: {', '.join(diff)}); "
                          "use a fresh output directory or delete it")
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["optimizer"])
    torch.set_rng_state(ckpt["rng"].cpu())
    if device.type == "cuda" and "cuda_rng" in ckpt:
        torch.cuda.set_rng_state(ckpt["cuda_rng"].cpu())
    return {"step": int(ckpt["step"]), "history": list(ckpt["history"]), "elapsed": float(ckpt["elapsed"])}


def _save_checkpoint(out_dir: Path, config: dict, model, opt, state: dict, device) -> None:
    ckpt = {"config": config, "model": model.state_dict(), "optimizer": opt.state_dict(),
            "rng": torch.get_rng_state(), **state}
    if device.type == "cuda":
        ckpt["cuda_rng"] = torch.cuda.get_rng_state()
    atomic_save(ckpt, out_dir / CHECKPOINT_FILE)


def _atomic_json(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _loop(model, opt, feats: Features, split, cfg: TrainConfig, state: dict, seed: int, device,
          save: Callable[[dict], None], progress: bool, stop_after: int | None) -> dict:
    """Run steps ``state['step'] .. cfg.steps`` (or stop after `stop_after`), checkpointing on the way."""
    model.train()
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    last = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
    bar = tqdm(total=cfg.steps, initial=state["step"], disable=not progress, desc="train tagger", unit="step")
    losses, t0, jets = [], time.perf_counter(), 0
    try:
        while state["step"] < last:
            step = state["step"]
            for group in opt.param_groups:
                group["lr"] = _lr(step, cfg)
            batch = feats.batch(_batch_indices(split["train"], step, cfg.batch_size, seed), device)
            with autocast:
                loss = F.cross_entropy(model(batch), batch["labels"])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            opt.step()
            losses.append(loss.detach())  # no device sync per step
            jets += cfg.batch_size
            state["step"] = step + 1
            bar.update(1)
            if state["step"] % 10 == 0 or state["step"] == last:
                rate = jets / max(time.perf_counter() - t0, 1e-9)
                bar.set_postfix(loss=f"{float(losses[-1]):.3f}", jets_per_s=f"{rate:.0f}")
            if state["step"] % cfg.eval_every == 0 or state["step"] == cfg.steps:
                state["history"].append({"step": state["step"], "lr": _lr(step, cfg),
                                         "train_loss": float(torch.stack(losses).float().mean()),
                                         **_validate(model, feats, split["val"], cfg, device)})
                losses = []
            if state["step"] % cfg.checkpoint_every == 0 or state["step"] == last:
                state["elapsed"] += time.perf_counter() - t0
                t0, jets = time.perf_counter(), 0
                save(state)
    except KeyboardInterrupt:
        state["elapsed"] += time.perf_counter() - t0
        save(state)  # resume from exactly here
        raise
    finally:
        bar.close()
    return state


def train_tagger(profile: str | os.PathLike | Mapping[str, Any], data_dir: str | os.PathLike, out_dir: str | os.PathLike,
                 device: str = "cpu", seed: int = 0, progress: bool = True, *, stop_after: int | None = None,
                 **overrides: Any) -> dict:
    """Train the tagger on ``data_dir``'s nominal jets of all ten classes; write ``out_dir/tagger.pt``.

    Arguments:
        profile: profile name/path/dict; its ``[tagger]`` section sets architecture and training.
        data_dir: a dataset folder as written by ``mindgap generate`` (``train/nominal/*.root``).
        out_dir: where ``tagger.pt``, ``metrics.json`` and ``test_scores.npz`` go. A
            ``checkpoint.pt`` left there by an interrupted run of the same config is resumed.
        stop_after: stop (checkpointed) after this many steps, as an interruption would.
        overrides: ``[tagger]`` keys to replace, e.g. ``steps=10``.

    Returns:
        The metrics dict (also in ``metrics.json``); ``{"complete": False, "step": k}`` if stopped early.
    """
    dev = resolve_device(device)
    model_cfg, train_cfg = tagger_config(profile, **overrides)
    out = Path(out_dir)
    config = {"model": model_cfg.as_dict(), "train": dataclasses.asdict(train_cfg), "seed": seed}
    raw = load_features(_train_files(data_dir), model_cfg.num_particles)
    split = _split(len(raw), train_cfg, seed)
    train_rows = split["train"].numpy()  # the transform sees training jets only
    transform = fit_input_transform(raw.particles.numpy()[train_rows], raw.mask.numpy()[train_rows],
                                    train_cfg.transform_knots)
    feats = raw.transformed(transform)
    del raw
    torch.manual_seed(seed)
    model = Tagger(model_cfg).to(dev)
    model.input_transform = transform
    opt = _optimizer(model, train_cfg)
    out.mkdir(parents=True, exist_ok=True)
    state = _resume(out, config, model, opt, dev)
    if dev.type == "cuda":
        # all of it on the GPU once; index tensors stay on the CPU
        feats = dataclasses.replace(feats, particles=feats.particles.to(dev), mask=feats.mask.to(dev),
                                    jets=feats.jets.to(dev), labels=feats.labels.to(dev))
    state = _loop(model, opt, feats, split, train_cfg, state, seed, dev,
                  lambda s: _save_checkpoint(out, config, model, opt, s, dev), progress, stop_after)
    if state["step"] < train_cfg.steps:
        return {"complete": False, "step": state["step"]}
    return _finish(model, feats, split, train_cfg, config, state, out, dev)


def _finish(model, feats: Features, split, cfg: TrainConfig, config: dict, state: dict, out: Path, dev) -> dict:
    """Test-set metrics, then the final files; the resume checkpoint goes last."""
    test = split["test"]
    logits = predict(model, feats, test, cfg.batch_size, dev)["logits"]
    labels = feats.labels[test].cpu().numpy()
    metrics = {
        **tagging_metrics(logits, labels),
        "training_time_s": state["elapsed"],
        "train_jets_per_s": cfg.steps * cfg.batch_size / max(state["elapsed"], 1e-9),  # validation passes included
        "history": state["history"],
        "n_train": len(split["train"]), "n_val": len(split["val"]),
        "n_params": sum(p.numel() for p in model.parameters()),
        "config": config,
        "complete": True,
    }
    save_tagger(model, out / TAGGER_FILE, extra={"train": config["train"], "seed": config["seed"]})
    tmp = out / "test_scores.npz.tmp"
    with open(tmp, "wb") as fh:
        np.savez(fh, logits=logits, labels=labels, jet_pt=feats.jet_pt[test.numpy()])
    os.replace(tmp, out / "test_scores.npz")
    _atomic_json(metrics, out / "metrics.json")
    (out / CHECKPOINT_FILE).unlink(missing_ok=True)
    return metrics

"""Training the tagger on the nominal dataset: split, AdamW, warm-up + cosine, resumable checkpoints."""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..util.atomic import atomic_torch_save, atomic_write_json, atomic_write_npz
from ..util.sections import hashed
from ..util.schedules import warmup_cosine
from ..util.seeds import derive_seed
from ..util.torch_env import resolve_device, torch_threads
from .checkpoint import TAGGER_FILE, save_tagger
from .config import TaggerError
from .config import TaggerSection, TrainConfig
from .features import Features, fit_input_transform, load_features
from .metrics import tagging_metrics
from .model import Tagger

__all__ = ["predict", "train_tagger", "CHECKPOINT_FILE"]

CHECKPOINT_FILE = "checkpoint.pt"


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


def _epoch_rows(train: torch.Tensor, start: int, stop: int, seed: int) -> torch.Tensor:
    """Positions ``start .. stop`` of the endless stream of seeded epoch permutations of `train`."""
    n = len(train)
    pos = torch.arange(start, stop)
    epoch, out = pos // n, torch.empty(stop - start, dtype=torch.long)
    for e in epoch.unique().tolist():
        sel = epoch == e
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(derive_seed(seed, "epoch", e)))
        out[sel] = train[perm[pos[sel] % n]]
    return out


def _batch_indices(train: torch.Tensor, step: int, batch: int, seed: int,
                   lengths: torch.Tensor | None = None, buckets: int = 1) -> torch.Tensor:
    """Rows of step `step`: epochs are seeded permutations, so resuming needs only the step.

    With ``buckets = K > 1`` the rows of K consecutive steps are drawn together, sorted by
    `lengths` (the jets' multiplicities) and cut into K batches that the K steps take in a seeded
    order. Every jet is still seen once per epoch, but a batch holds jets of similar multiplicity,
    so the padding that :meth:`Features.batch` trims away is not computed.
    """
    if buckets <= 1:
        return _epoch_rows(train, step * batch, (step + 1) * batch, seed)
    if lengths is None:
        raise ValueError(f"[tagger.train] length_buckets = {buckets} needs the jets' multiplicities (lengths)")
    group, slot = divmod(step, buckets)
    rows = _epoch_rows(train, group * buckets * batch, (group + 1) * buckets * batch, seed)
    rows = rows[torch.argsort(lengths[rows], stable=True)]
    chunk = int(torch.randperm(buckets, generator=torch.Generator().manual_seed(derive_seed(seed, "bucket", group)))[slot])
    return rows[chunk * batch:(chunk + 1) * batch]


def _lr(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up to ``lr``, then cosine decay to zero at ``steps``."""
    return cfg.lr * warmup_cosine(step, cfg.steps, cfg.warmup_steps)


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
        return {"step": 0, "history": [], "elapsed": 0.0, "losses": []}
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
    return {"step": int(ckpt["step"]), "history": list(ckpt["history"]), "elapsed": float(ckpt["elapsed"]),
            "losses": list(ckpt.get("losses", []))}  # the steps since the last evaluation: its train_loss


def _save_checkpoint(out_dir: Path, config: dict, model, opt, state: dict, device) -> None:
    ckpt = {"config": config, "model": model.state_dict(), "optimizer": opt.state_dict(),
            "rng": torch.get_rng_state(), **state}
    if device.type == "cuda":
        ckpt["cuda_rng"] = torch.cuda.get_rng_state()
    atomic_torch_save(ckpt, out_dir / CHECKPOINT_FILE)


def _loop(model, opt, feats: Features, split, cfg: TrainConfig, state: dict, seed: int, device,
          save: Callable[[dict], None], progress: bool, stop_after: int | None) -> dict:
    """Run steps ``state['step'] .. cfg.steps`` (or stop after `stop_after`), checkpointing on the way."""
    model.train()
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    last = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
    bar = tqdm(total=cfg.steps, initial=state["step"], disable=not progress, desc="train tagger", unit="step")
    losses, t0, jets = state["losses"], time.perf_counter(), 0  # per-step losses since the last evaluation
    lengths = feats.mask.sum(1).cpu()  # multiplicities, for length_buckets
    try:
        while state["step"] < last:
            step = state["step"]
            for group in opt.param_groups:
                group["lr"] = _lr(step, cfg)
            rows = _batch_indices(split["train"], step, cfg.batch_size, seed, lengths, cfg.length_buckets)
            batch = feats.batch(rows, device)
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
                losses.clear()
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


def train_tagger(cfg: TaggerSection, data_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
                 device: str = "cpu", seed: int = 0, progress: bool = True, stop_after: int | None = None) -> dict:
    """Train the tagger on ``data_dir``'s nominal jets of all ten classes; write ``out_dir/tagger.pt``.

    Arguments:
        cfg: the ``[tagger]`` section (architecture and training).
        data_dir: a dataset folder as written by ``mindgap generate`` (``train/nominal/*.root``).
        out_dir: where ``tagger.pt``, ``metrics.json`` and ``test_scores.npz`` go. A
            ``checkpoint.pt`` left there by an interrupted run of the same config is resumed.
        stop_after: stop (checkpointed) after this many steps, as an interruption would.

    Returns:
        The metrics dict (also in ``metrics.json``); ``{"complete": False, "step": k}`` if stopped early.
    """
    dev = resolve_device(device)
    with torch_threads(cfg.train.threads if dev.type == "cpu" else None):
        return _train(cfg, Path(data_dir), Path(out_dir), dev, seed, progress, stop_after)


def _train(cfg: TaggerSection, data_dir: Path, out: Path, dev: torch.device, seed: int, progress: bool,
           stop_after: int | None) -> dict:
    model_cfg, train_cfg = cfg.model, cfg.train
    config = {"model": model_cfg.as_dict(), "train": hashed(train_cfg), "seed": seed}
    raw = load_features(_train_files(data_dir), model_cfg.num_particles)
    split = _split(len(raw), train_cfg, seed)
    train_rows = split["train"].numpy()  # the transform sees training jets only
    transform = fit_input_transform(raw.particles.numpy()[train_rows], raw.mask.numpy()[train_rows],
                                    train_cfg.transform_knots)
    feats = raw.transformed(transform)
    del raw
    torch.manual_seed(seed)
    model = Tagger(model_cfg, transform).to(dev)
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
    pred = predict(model, feats, test, cfg.batch_size, dev)
    logits, z = pred["logits"], pred[model.head.names.z]
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
    atomic_write_npz(out / "test_scores.npz", logits=logits, labels=labels, jet_pt=feats.jet_pt[test.numpy()],
                     z=z.astype(np.float32))
    atomic_write_json(out / "metrics.json", metrics)
    (out / CHECKPOINT_FILE).unlink(missing_ok=True)
    return metrics

"""The evaluation discriminator of the paper's Table 3: an MLP telling two samples apart.

Its held-out AUC measures how different two samples are (0.5: indistinguishable), and its
score ``s = P(b | x)`` gives the density ratio ``p_b / p_a = s / (1 - s)`` used by the vertical
calibration. Classes are balanced in the loss, so the ratio needs no prior correction.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .auc import AUC, auc_with_error
from .inputs import EvaluateError

__all__ = ["DiscriminatorConfig", "Discriminator", "Split", "split_indices", "DiscriminatorResult",
           "train_discriminator", "torch_threads"]


@dataclass
class DiscriminatorConfig:
    """Table 3 of the paper for the ``paper`` profile (its learning rate is not given: 1e-3)."""

    layers: int = 4            # hidden Linear-LayerNorm-SiLU blocks
    width: int = 512
    epochs: int = 200
    batch_size: int = 1024
    lr: float = 1e-3
    weight_decay: float = 1e-2
    patience: int = 100        # early stopping: epochs without a better validation loss
    val_fraction: float = 0.2
    test_fraction: float = 0.4
    auc_error: str = "delong"  # or "bootstrap"
    bootstrap: int = 200       # resamples when auc_error = "bootstrap"
    threads: int = 1           # torch CPU threads while training (0: leave torch's setting); small MLPs
                               # run fastest on one thread, and far faster on a busy shared machine

    def __post_init__(self) -> None:
        for name in ("layers", "width", "epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise EvaluateError(f"discriminator: {name} must be >= 1, got {getattr(self, name)}")
        if not (0 < self.val_fraction < 1 and 0 < self.test_fraction < 1 and self.val_fraction + self.test_fraction < 1):
            raise EvaluateError(f"discriminator: val_fraction={self.val_fraction} and test_fraction="
                                f"{self.test_fraction} must be in (0, 1) and sum to < 1")


class Discriminator(nn.Module):
    """(B, d) -> (B,) logit of "from sample b"; inputs standardised with training-set moments."""

    def __init__(self, in_dim: int, layers: int, width: int):
        super().__init__()
        blocks: list[nn.Module] = []
        for i in range(layers):
            blocks += [nn.Linear(in_dim if i == 0 else width, width), nn.LayerNorm(width), nn.SiLU()]
        self.net = nn.Sequential(*blocks, nn.Linear(width, 1))
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("std", torch.ones(in_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std).squeeze(-1)


@contextlib.contextmanager
def torch_threads(n: int):
    """Set torch's intra-op CPU threads to `n` (> 0) for the duration, then restore them."""
    old = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@dataclass
class Split:
    """Row indices of one sample for training, early stopping and the held-out test."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def split_indices(n: int, val_fraction: float, test_fraction: float, seed: int = 0) -> Split:
    """A seeded random train/validation/test split of ``range(n)``."""
    perm = np.random.default_rng(seed).permutation(n)
    n_test, n_val = int(round(n * test_fraction)), int(round(n * val_fraction))
    if min(n_test, n_val, n - n_test - n_val) < 2:
        raise EvaluateError(f"discriminator: {n} events are too few for val/test fractions "
                            f"{val_fraction}/{test_fraction}")
    return Split(train=np.sort(perm[n_test + n_val:]), val=np.sort(perm[n_test:n_test + n_val]), test=np.sort(perm[:n_test]))


@dataclass
class DiscriminatorResult:
    """Held-out scores of a trained discriminator (label 1 = sample b) and its AUC."""

    auc: AUC
    test_labels: np.ndarray
    test_scores: np.ndarray        # P(b | x) on the test rows of a, then of b
    split_a: Split
    split_b: Split
    model: Discriminator
    history: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = 0

    @property
    def scores_a(self) -> np.ndarray:
        return self.test_scores[self.test_labels == 0]

    @property
    def scores_b(self) -> np.ndarray:
        return self.test_scores[self.test_labels == 1]

    def predict(self, x: np.ndarray, batch_size: int = 8192) -> np.ndarray:
        """P(b | x) for new rows `x` (N, d)."""
        device = next(self.model.parameters()).device
        return _predict(self.model, torch.as_tensor(np.asarray(x, np.float32), device=device), batch_size)


@torch.no_grad()
def _predict(model: nn.Module, x: torch.Tensor, batch_size: int) -> np.ndarray:
    model.eval()
    return torch.cat([torch.sigmoid(model(x[i:i + batch_size])) for i in range(0, len(x), batch_size)]).cpu().numpy()


@torch.no_grad()
def _loss(model: nn.Module, loss_fn: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> float:
    model.eval()
    total = sum(float(loss_fn(model(x[i:i + batch_size]), y[i:i + batch_size])) * len(y[i:i + batch_size])
                for i in range(0, len(x), batch_size))
    return total / len(x)


def _stack(a: np.ndarray, b: np.ndarray, ia: np.ndarray, ib: np.ndarray, device: torch.device):
    x = torch.as_tensor(np.concatenate([a[ia], b[ib]]), dtype=torch.float32, device=device)
    y = torch.cat([torch.zeros(len(ia)), torch.ones(len(ib))]).to(device)
    return x, y


def _fit(model: Discriminator, x: torch.Tensor, y: torch.Tensor, xv: torch.Tensor, yv: torch.Tensor,
         pos_weight: float, cfg: DiscriminatorConfig, gen: torch.Generator, progress: bool) -> tuple[dict, int]:
    """AdamW + per-step cosine decay; keeps the weights of the best validation loss."""
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(pos_weight, device=x.device))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, -(-len(x) // cfg.batch_size))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * steps_per_epoch)
    history: dict[str, list[float]] = {"train": [], "val": []}
    best, best_state, best_epoch = np.inf, copy.deepcopy(model.state_dict()), 0
    bar = tqdm(range(cfg.epochs), desc="discriminator", leave=False, disable=not progress)
    for epoch in bar:
        model.train()
        perm, running = torch.randperm(len(x), generator=gen).to(x.device), 0.0
        for i in range(0, len(x), cfg.batch_size):
            idx = perm[i:i + cfg.batch_size]
            loss = loss_fn(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running += loss.item() * len(idx)
        history["train"].append(running / len(x))
        history["val"].append(_loss(model, loss_fn, xv, yv, 4 * cfg.batch_size))
        bar.set_postfix(val=f"{history['val'][-1]:.4f}")
        if history["val"][-1] < best:
            best, best_state, best_epoch = history["val"][-1], copy.deepcopy(model.state_dict()), epoch
        elif epoch - best_epoch >= cfg.patience:
            break
    model.load_state_dict(best_state)
    return history, best_epoch


def train_discriminator(a: np.ndarray, b: np.ndarray, config: DiscriminatorConfig | None = None, seed: int = 0,
                        device: str | torch.device = "cpu", progress: bool = False,
                        splits: tuple[Split, Split] | None = None) -> DiscriminatorResult:
    """Train a discriminator between samples `a` (label 0) and `b` (label 1), each (N, d).

    `splits` fixes which rows are train/val/test (e.g. to reuse held-out rows for closure);
    by default both samples are split at random with `seed`. Returns the held-out scores and
    AUC (with the error of ``config.auc_error``).
    """
    cfg = config or DiscriminatorConfig()
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise EvaluateError(f"discriminator: samples must be 2-D with equal widths, got {a.shape} and {b.shape}")
    device = torch.device(device)
    sa, sb = splits or (split_indices(len(a), cfg.val_fraction, cfg.test_fraction, seed),
                        split_indices(len(b), cfg.val_fraction, cfg.test_fraction, seed + 1))
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = Discriminator(a.shape[1], cfg.layers, cfg.width).to(device)
    x, y = _stack(a, b, sa.train, sb.train, device)
    model.mean.copy_(x.mean(0))
    model.std.copy_(x.std(0).clamp_min(1e-6))
    xv, yv = _stack(a, b, sa.val, sb.val, device)
    xt, yt = _stack(a, b, sa.test, sb.test, device)
    with torch_threads(cfg.threads):
        history, best_epoch = _fit(model, x, y, xv, yv, len(sa.train) / len(sb.train), cfg, gen, progress)
        scores = _predict(model, xt, 4 * cfg.batch_size)
    labels = yt.cpu().numpy().astype(np.int8)
    auc = auc_with_error(labels, scores, cfg.auc_error, cfg.bootstrap, seed)
    return DiscriminatorResult(auc, labels, scores, sa, sb, model, history, best_epoch)

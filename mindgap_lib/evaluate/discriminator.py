"""The evaluation discriminator of the paper's Table 3: an MLP telling two samples apart.

Its held-out AUC measures how different two samples are (0.5: indistinguishable), and its
score ``s = P(b | x)`` gives the density ratio ``p_b / p_a = s / (1 - s)`` used by the vertical
calibration. Classes are balanced in the loss, so the ratio needs no prior correction.

Every number is out of sample by *cross-fitting*: the rows are cut into ``folds`` folds, and each
fold is scored by the fit trained (and early-stopped) on the others. Every row then has an honest
score, the AUC comes from all of them (with DeLong's error), and the spread of the per-fold AUCs
shows how much a single fit would wander.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..util.seeds import derive_seed
from ..util.torch_env import resolve_device, torch_threads
from .auc import AUC, auc_with_error
from .config import DiscriminatorConfig, EvaluateError

__all__ = ["Discriminator", "FoldFit", "CrossFit", "fold_of", "fit_fold", "combine_folds", "cross_fit"]


class Discriminator(nn.Module):
    """(B, d) -> (B,) logit of "from sample b", on inputs centred and whitened with training-set moments.

    A tagger's latent fills a few strongly correlated directions (chapter 03); scaling each coordinate
    alone leaves an ill-conditioned input that an MLP on ten thousand jets learns worse than a linear
    model does. Whitening (``x ↦ (x − m) W`` with ``W = V diag((λ + floor·λ_max)^-½)``, every direction
    kept, none dropped) removes that without hiding anything: a map that leaks into a near-empty
    direction makes that direction's variance large, and the discriminator still sees it.
    """

    def __init__(self, in_dim: int, layers: int, width: int):
        super().__init__()
        blocks: list[nn.Module] = []
        for i in range(layers):
            blocks += [nn.Linear(in_dim if i == 0 else width, width), nn.LayerNorm(width), nn.SiLU()]
        self.net = nn.Sequential(*blocks, nn.Linear(width, 1))
        self.register_buffer("mean", torch.zeros(in_dim))
        self.register_buffer("whiten", torch.eye(in_dim))

    def fit_inputs(self, x: torch.Tensor, whiten: bool, floor: float) -> None:
        """Set the centring and the whitening (or per-coordinate scaling) from training rows `x`."""
        self.mean.copy_(x.mean(0))
        xc = (x - self.mean).double()
        if whiten:
            var, vec = torch.linalg.eigh(xc.T @ xc / max(len(x) - 1, 1))
            scale = (var.clamp_min(0) + floor * var.max().clamp_min(1e-30)).rsqrt()
            self.whiten.copy_((vec * scale).to(self.whiten.dtype))
        else:
            self.whiten.copy_(torch.diag(xc.std(0).clamp_min(1e-6).reciprocal()).to(self.whiten.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) @ self.whiten).squeeze(-1)


def fold_of(n: int, folds: int, seed: int) -> np.ndarray:
    """The fold (0 .. folds-1) of each of `n` rows: a seeded, balanced assignment."""
    if n < 2 * folds:
        raise EvaluateError(f"discriminator: {n} rows are too few for {folds} folds")
    return np.random.default_rng(seed).permutation(np.arange(n) % folds)


@dataclass
class FoldFit:
    """One fold: the scores of its held-out rows of `a` and `b`, and how the fit went."""

    fold: int
    scores_a: np.ndarray
    scores_b: np.ndarray
    history: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = 0


@dataclass
class CrossFit:
    """Out-of-fold scores P(b | x) for every row of `a` and `b`, and the AUCs they give."""

    scores_a: np.ndarray            # one per row of a, each from the fit that did not train on it
    scores_b: np.ndarray
    auc: AUC                        # from all out-of-fold scores, with DeLong's (or a bootstrap) error
    fold_aucs: list[float]
    histories: list[dict] = field(default_factory=list)
    best_epochs: list[int] = field(default_factory=list)

    @property
    def labels(self) -> np.ndarray:
        return np.r_[np.zeros(len(self.scores_a), np.int8), np.ones(len(self.scores_b), np.int8)]

    @property
    def scores(self) -> np.ndarray:
        return np.r_[self.scores_a, self.scores_b]

    @property
    def fold_spread(self) -> float:
        """Standard deviation of the per-fold AUCs."""
        return float(np.std(self.fold_aucs, ddof=1)) if len(self.fold_aucs) > 1 else 0.0

    def summary(self) -> dict[str, float]:
        return {**self.auc.as_dict(), "fold_mean": float(np.mean(self.fold_aucs)), "fold_spread": self.fold_spread,
                "folds": len(self.fold_aucs), "n_a": int(len(self.scores_a)), "n_b": int(len(self.scores_b)),
                "best_epoch_mean": float(np.mean(self.best_epochs)) if self.best_epochs else 0.0}


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


def _train(model: Discriminator, x: torch.Tensor, y: torch.Tensor, xv: torch.Tensor, yv: torch.Tensor,
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


def _train_val(rows: np.ndarray, val_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    rows = rng.permutation(rows)
    n_val = max(1, int(round(val_fraction * len(rows))))
    return np.sort(rows[n_val:]), np.sort(rows[:n_val])


def _check(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise EvaluateError(f"discriminator: samples must be 2-D with equal widths, got {a.shape} and {b.shape}")
    return a, b


def fit_fold(a: np.ndarray, b: np.ndarray, fold: int, cfg: DiscriminatorConfig, seed: int = 0,
             device: str = "cpu", progress: bool = False) -> FoldFit:
    """Train on every fold but `fold` (early stopping on a part of them) and score the rows of `fold`.

    The fold assignment depends only on `seed` and the sample sizes, so the folds of a
    cross-fit can be trained in separate processes.
    """
    a, b = _check(a, b)
    dev = resolve_device(device)
    fa, fb = fold_of(len(a), cfg.folds, derive_seed(seed, "folds", "a")), fold_of(len(b), cfg.folds, derive_seed(seed, "folds", "b"))
    rng = np.random.default_rng(derive_seed(seed, "validation", fold))
    (ta, va), (tb, vb) = (_train_val(np.flatnonzero(fa != fold), cfg.val_fraction, rng),
                          _train_val(np.flatnonzero(fb != fold), cfg.val_fraction, rng))
    torch.manual_seed(derive_seed(seed, "init", fold))
    gen = torch.Generator().manual_seed(derive_seed(seed, "batches", fold))
    with torch_threads(cfg.threads or None):
        model = Discriminator(a.shape[1], cfg.layers, cfg.width).to(dev)
        x, y = _stack(a, b, ta, tb, dev)
        model.fit_inputs(x, cfg.whiten, cfg.whiten_floor)
        xv, yv = _stack(a, b, va, vb, dev)
        history, best_epoch = _train(model, x, y, xv, yv, len(ta) / len(tb), cfg, gen, progress)
        sa = _predict(model, torch.as_tensor(a[fa == fold], device=dev), 4 * cfg.batch_size)
        sb = _predict(model, torch.as_tensor(b[fb == fold], device=dev), 4 * cfg.batch_size)
    return FoldFit(fold, sa, sb, history, best_epoch)


def combine_folds(n_a: int, n_b: int, fits: list[FoldFit], cfg: DiscriminatorConfig, seed: int = 0) -> CrossFit:
    """Put the folds' scores back in row order; AUC from all of them, and per fold."""
    fa, fb = fold_of(n_a, cfg.folds, derive_seed(seed, "folds", "a")), fold_of(n_b, cfg.folds, derive_seed(seed, "folds", "b"))
    sa, sb = np.empty(n_a, np.float32), np.empty(n_b, np.float32)
    fold_aucs = []
    for f in sorted(fits, key=lambda f: f.fold):
        sa[fa == f.fold], sb[fb == f.fold] = f.scores_a, f.scores_b
        labels = np.r_[np.zeros(len(f.scores_a)), np.ones(len(f.scores_b))]
        fold_aucs.append(auc_with_error(labels, np.r_[f.scores_a, f.scores_b], "delong").value)
    labels = np.r_[np.zeros(n_a, np.int8), np.ones(n_b, np.int8)]
    auc = auc_with_error(labels, np.r_[sa, sb], cfg.auc_error, cfg.bootstrap, seed)
    return CrossFit(sa, sb, auc, fold_aucs, [f.history for f in fits], [f.best_epoch for f in fits])


def cross_fit(a: np.ndarray, b: np.ndarray, cfg: DiscriminatorConfig, seed: int = 0, device: str = "cpu",
              progress: bool = False) -> CrossFit:
    """Tell `a` (label 0) from `b` (label 1), each (N, d): out-of-fold scores for every row, and the AUC."""
    a, b = _check(a, b)
    fits = [fit_fold(a, b, k, cfg, seed, device, progress) for k in range(cfg.folds)]
    return combine_folds(len(a), len(b), fits, cfg, seed)

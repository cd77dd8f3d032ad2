"""Flows for flows: a normalising flow trained by maximum likelihood to morph one sample into another.

Neither sample's density is known, so each is first learnt by its own flow (p_s on the source,
p_t on the target). The morphing flow f (source → target) is then trained with both densities
frozen, in both directions:

    L(f) = −E_{x∼P}[log p_t(f(x)) + log|det ∂f/∂x|] − E_{y∼Q}[log p_s(f⁻¹(y)) + log|det ∂f⁻¹/∂y|].

Variant implemented (the paper's basic protocol): separately trained base densities, bidirectional
training, the morph initialised at the identity (its last conditioner layers zeroed), no explicit
movement penalty; with ``context`` columns all three flows are conditional on c (the conditional
flows for flows). Flows are zuko's affine coupling flows (MAF with two passes, random permutations),
cheap in both directions. The morph acts on the pooled principal span of the latent, whitened (unit
variance per principal direction: a latent's spectrum spans orders of magnitude, which a flow with a
unit-Gaussian base learns slowly); the rest of the latent is carried over unchanged.

References:
    Flows for flows: training normalizing flows between arbitrary distributions with maximum likelihood
    estimation (Klein, Raine, Golling, 2022), arXiv:2211.02487.
    Flows for Flows: Morphing one Dataset into another with Maximum Likelihood Estimation (Golling, Klein,
    Mastandrea, Nachman, Raine, 2023), arXiv:2309.06472.
    zuko: normalizing flows in PyTorch (Rozet et al.), https://github.com/probabilists/zuko.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..util.seeds import derive_seed
from ..util.torch_env import resolve_device, torch_threads
from .conditional_map import Frame, make_frame
from .config import FlowConfig, TransportError

__all__ = ["FlowConfig", "FlowMorph", "fit_flows4flows"]


def _flow(dim: int, context: int, cfg: FlowConfig, seed: int):
    import zuko  # optional dependency: only this method needs it

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return zuko.flows.MAF(dim, context, transforms=cfg.transforms, hidden_features=(cfg.hidden, cfg.hidden),
                              passes=2, randperm=True)


def _ctx(c: torch.Tensor | None) -> tuple:
    return () if c is None or c.shape[1] == 0 else (c,)


def _batches(n: int, cfg: FlowConfig, steps: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        yield torch.randint(n, (cfg.batch_size,), generator=gen)


def _train_density(x: torch.Tensor, c: torch.Tensor | None, cfg: FlowConfig, seed: int):
    flow = _flow(x.shape[1], 0 if c is None else c.shape[1], cfg, seed).to(x.device)
    opt = torch.optim.Adam(flow.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.density_steps)
    for idx in _batches(len(x), cfg, cfg.density_steps, derive_seed(seed, "batches")):
        idx = idx.to(x.device)
        loss = -flow(*_ctx(None if c is None else c[idx])).log_prob(x[idx]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(flow.parameters(), 5.0)
        opt.step()
        sched.step()
    return flow.requires_grad_(False).eval()


def _identity_morph(dim: int, context: int, cfg: FlowConfig, seed: int):
    morph = _flow(dim, context, cfg, seed)
    with torch.no_grad():
        for t in morph.transform.transforms:   # shift 0 and log-scale 0: every coupling starts as the identity
            t.hyper[-1].weight.zero_()
            t.hyper[-1].bias.zero_()
    return morph


def _morph_loss(morph, p_s, p_t, x, cx, y, cy) -> torch.Tensor:
    fwd, ladj_f = morph.transform(*_ctx(cx)).call_and_ladj(x)
    back, ladj_b = morph.transform(*_ctx(cy)).inv.call_and_ladj(y)
    return -(p_t(*_ctx(cx)).log_prob(fwd) + ladj_f).mean() - (p_s(*_ctx(cy)).log_prob(back) + ladj_b).mean()


class FlowMorph:
    """The trained morph f (source → target) in original coordinates, with the frame it acts in."""

    def __init__(self, morph: Any, frame: Frame, history: dict[str, list]) -> None:
        self.morph, self.frame, self.history = morph.eval(), frame, history

    @property
    def dim(self) -> int:
        return len(self.frame.shift)

    @torch.no_grad()
    def transport(self, x: np.ndarray, c: np.ndarray | None = None, chunk: int = 8192) -> np.ndarray:
        """f(x | c), (n, d) in and out; `c` (n, k) is needed exactly when the flows are conditional."""
        x = np.asarray(x, np.float32)
        dev = next(self.morph.parameters()).device
        u = self.frame.x(x)
        cc = self.frame.c(np.zeros((len(x), 0)) if c is None else c)
        out = np.empty_like(u)
        for i in range(0, len(x), chunk):
            ci = torch.from_numpy(cc[i:i + chunk]).to(dev)
            out[i:i + chunk] = self.morph.transform(*_ctx(ci))(torch.from_numpy(u[i:i + chunk]).to(dev)).cpu().numpy()
        return self.frame.back(out, x)


def fit_flows4flows(source: np.ndarray, target: np.ndarray, cfg: FlowConfig, *, source_c: np.ndarray | None = None,
                    target_c: np.ndarray | None = None, seed: int = 0, device: str = "cpu") -> FlowMorph:
    """Train p_s, p_t, then the morph source → target (see the module doc); conditional when c is given."""
    x, y = np.asarray(source, np.float32), np.asarray(target, np.float32)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or min(len(x), len(y)) < 2:
        raise TransportError(f"flows4flows: need (n, d) samples of equal width, got {x.shape} and {y.shape}")
    if (source_c is None) != (target_c is None):
        raise TransportError("flows4flows: give conditions for both samples or for neither")
    frame = make_frame(x, y, cfg.subspace_tol, source_c, target_c, whiten=True)
    dev = resolve_device(device)
    as_t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32, device=dev)  # noqa: E731
    u, v = as_t(frame.x(x)), as_t(frame.x(y))
    cx = None if source_c is None else as_t(frame.c(source_c))
    cy = None if target_c is None else as_t(frame.c(target_c))
    k = 0 if cx is None else cx.shape[1]
    with torch_threads(cfg.threads or None):
        p_s = _train_density(u, cx, cfg, derive_seed(seed, "density", "source"))
        p_t = _train_density(v, cy, cfg, derive_seed(seed, "density", "target"))
        morph = _identity_morph(u.shape[1], k, cfg, derive_seed(seed, "morph")).to(dev)
        opt = torch.optim.Adam(morph.parameters(), lr=cfg.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.morph_steps)
        history: dict[str, list] = {"step": [], "loss": []}
        gen_y = _batches(len(v), cfg, cfg.morph_steps, derive_seed(seed, "morph", "target"))
        for i, ix in enumerate(_batches(len(u), cfg, cfg.morph_steps, derive_seed(seed, "morph", "source"))):
            ix, iy = ix.to(dev), next(gen_y).to(dev)
            cxi, cyi = (None, None) if cx is None else (cx[ix], cy[iy])
            loss = _morph_loss(morph, p_s, p_t, u[ix], cxi, v[iy], cyi)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(morph.parameters(), 5.0)
            opt.step()
            sched.step()
            if i % 50 == 0 or i == cfg.morph_steps - 1:
                history["step"].append(i)
                history["loss"].append(float(loss.detach()))
    return FlowMorph(morph, frame, history)

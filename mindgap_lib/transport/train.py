"""The training loop: alternating f/g updates on the dual, validation, best checkpoint, rollback, divergence stop."""

from __future__ import annotations

import copy
import math
import re
import time
import warnings

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..util.schedules import warmup_cosine
from ..util.seeds import derive_seed
from ..util.torch_env import native_bf16
from .config import TransportConfig, TransportError
from .conjugate import refine_conjugate
from .dual import dual_value, expectile_from_values, expectile_loss, f_loss, g_loss
from .icnn import ICNN, ICNNConfig, build_potential
from .init import gaussian_map_from_samples

__all__ = ["Solver", "DivergenceWarning", "polish_config"]


class DivergenceWarning(RuntimeWarning):
    """Training produced a non-finite loss; the best finite checkpoint was kept."""


def _optimizer(net: ICNN, cfg: TransportConfig) -> torch.optim.Optimizer:
    quad = list(net.quadratic.parameters())
    ids = {id(p) for p in quad} | {id(net.gain)}
    neural = [p for p in net.parameters() if id(p) not in ids]
    groups = [{"params": neural, "weight_decay": cfg.weight_decay},
              {"params": [net.gain], "weight_decay": 0.0},
              {"params": quad, "weight_decay": 0.0, "lr": cfg.lr * cfg.quad_lr_scale}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(float(b) for b in cfg.betas))


def _schedule(opt: torch.optim.Optimizer, cfg: TransportConfig) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up, then cosine annealing to lr · lr_min_factor."""
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: warmup_cosine(step, cfg.steps, cfg.warmup_steps, cfg.lr_min_factor))


def _clone_state(*parts: nn.Module | torch.optim.Optimizer) -> list[dict]:
    return [copy.deepcopy(p.state_dict()) for p in parts]


def polish_config(cfg: TransportConfig) -> TransportConfig:
    """The solver of `Solver.polish`: the plain dual, L-BFGS conjugates, g regressed onto them, float32
    (``max_time_s`` still caps the whole fit, run and polish together)."""
    return cfg.replace(steps=cfg.polish_steps, lr=cfg.polish_lr, warmup_steps=0, bidirectional=False, expectile=0.0,
                       conj_steps=cfg.polish_conj_steps, conj_solver="lbfgs", conj_warm="amortized", conj_mask_tol=0.0,
                       g_loss="regression", f_per_g=1, g_per_f=1, checkpoint="best", rollback_tol=0.0,
                       precision="fp32", polish_steps=0)


class Solver:
    """Holds the standardised data, the two potentials and their optimisers for one fit."""

    def __init__(self, source: Tensor, target: Tensor, val: tuple[Tensor, Tensor], cfg: TransportConfig,
                 seed: int, out_scale: Tensor) -> None:
        self.cfg, self.x, self.y = cfg, source, target
        self.xv, self.yv = val
        self.out_scale = out_scale                               # per-dim scale back to original units
        dim = source.shape[1]
        if cfg.precision == "bf16" and native_bf16(source.device) is False:
            warnings.warn(f'[transport] precision = "bf16" on a {source.device.type} without native bfloat16 (no '
                          'AVX512-BF16 or AMX): torch emulates it, tens of times slower than precision = "fp32"',
                          RuntimeWarning, stacklevel=4)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            icfg = ICNNConfig(dim=dim, blocks=cfg.blocks, layers=cfg.layers, width=cfg.width, neural_init=cfg.neural_init,
                              quad_rank=cfg.quad_rank, kind=cfg.potential,
                              activation=cfg.mlp_activation)
            self.f, self.g = build_potential(icfg).to(source.device), build_potential(icfg).to(source.device)
        if cfg.init == "gaussian":
            self._init_gaussian()
        self.opt_f, self.opt_g = _optimizer(self.f, cfg), _optimizer(self.g, cfg)
        self.sched = [_schedule(self.opt_f, cfg), _schedule(self.opt_g, cfg)]
        self.gen = torch.Generator().manual_seed(derive_seed(seed, "transport batches"))
        self.history: dict[str, list] = {k: [] for k in ("step", "time", "lr", "dual", "w2", "w2_dual", "val_loss",
                                                          "amortization", "conj_residual", "rollbacks")}
        self.best = (math.inf, _clone_state(self.f, self.g, self.opt_f, self.opt_g), 0)
        self._buffer: Tensor | None = None                       # last refined ŷ per training point (conj_warm)
        self._last_idx: Tensor | None = None

    def _init_gaussian(self) -> None:
        """g's quadratic at the Bures map between the moments, f's at its inverse."""
        A, b = gaussian_map_from_samples(self.x.cpu().numpy(), self.y.cpu().numpy())
        A_inv = np.linalg.inv(A)
        A_inv = (A_inv + A_inv.T) / 2
        as_t = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
        self.g.quadratic.set_map(as_t(A), as_t(b))
        self.f.quadratic.set_map(as_t(A_inv), as_t(-A_inv @ b))

    def _batch(self, data: Tensor) -> Tensor:
        idx = torch.randint(len(data), (self.cfg.batch_size,), generator=self.gen).to(data.device)
        if data is self.x:
            self._last_idx = idx
        return data[idx]

    def _warm_start(self, ty: Tensor) -> Tensor:
        """∇g(x), or with ``conj_warm = "buffer"`` this point's last refined ŷ where it has one (f moved
        little since: the buffer is stale by ~n/batch steps, the amortiser by its whole gap)."""
        if self.cfg.conj_warm != "buffer":
            return ty.detach()
        if self._buffer is None:
            self._buffer = torch.full_like(self.x, float("nan"))
        prev = self._buffer[self._last_idx]
        return torch.where(torch.isnan(prev[:, :1]), ty.detach(), prev)

    def _conjugate(self, x: Tensor, ty: Tensor, steps: int) -> tuple[Tensor, Tensor]:
        if steps == 0:
            return ty.detach(), torch.full((len(x),), float("nan"), device=x.device)
        precond = self.g.quadratic.matrix().detach()
        return refine_conjugate(self.f, x, ty.detach(), precond, steps, self.cfg.conj_solver, self.cfg.conj_step_size)

    def _solved(self, y_hat: Tensor, res: Tensor) -> Tensor:
        """The refined points whose conjugate is solved to ``conj_mask_tol``·d (all of them when the mask is off).

        At an unsolved ŷ the term −f(ŷ) underestimates f*(x), and its gradient rewards f for making the
        conjugate harder still: the start of the runaway in which the residual explodes.
        """
        if self.cfg.conj_mask_tol <= 0 or self.cfg.conj_steps == 0:
            return y_hat
        keep = res <= self.cfg.conj_mask_tol * y_hat.shape[1]
        return y_hat[keep] if keep.any() else y_hat

    def _update(self, opt: torch.optim.Optimizer, net: ICNN, loss: Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), self.cfg.clip)
        opt.step()

    def step(self, i: int) -> dict[str, float]:
        """One batch: amortised prediction ∇g(x), conjugate refinement, then the f and/or g update.

        With ``bidirectional`` every even batch runs the same losses on the mirrored problem (target →
        source): g is the potential, ∇f its amortised conjugate (ENOT). With ``precision = "bf16"`` the
        batch's matrix products (forward, gradient and both backward passes) run in bfloat16; the
        parameters and their updates stay float32, and validation and the returned map never use it.
        """
        with self.autocast():
            return self._step(i)

    def autocast(self) -> torch.autocast:
        """The training batches' precision: bfloat16 matrix products with ``precision = "bf16"``, else a no-op."""
        return torch.autocast(self.x.device.type, dtype=torch.bfloat16, enabled=self.cfg.precision == "bf16")

    def _step(self, i: int) -> dict[str, float]:
        cfg = self.cfg
        if cfg.bidirectional:
            if i % 2 == 0:   # the mirrored half-step: x ~ target, y ~ source, potential g, amortiser ∇f
                return self._enot_step(i, self.g, self.f, self.opt_g, self.opt_f, self._batch(self.y), self._batch(self.x))
            return self._enot_step(i, self.f, self.g, self.opt_f, self.opt_g, self._batch(self.x), self._batch(self.y))
        cycle = i % max(cfg.f_per_g, cfg.g_per_f)
        upd_f, upd_g = cycle < cfg.f_per_g, cycle < cfg.g_per_f
        x, y = self._batch(self.x), self._batch(self.y)
        ty = self.g.grad(x, create_graph=upd_g)
        y_hat, res = self._conjugate(x, self._warm_start(ty), cfg.conj_steps)
        if cfg.conj_warm == "buffer":
            self._buffer[self._last_idx] = y_hat
        out = {"w2sq": float(((x - ty.detach()) ** 2).sum(-1).mean())}
        if upd_f:
            lf = f_loss(self.f, y, self._solved(y_hat, res))
            out["dual"] = float(lf.detach()) + float((x * y_hat).sum(-1).mean())
            if cfg.expectile > 0:
                lf = lf + cfg.expectile_coef * expectile_loss(self.f, x, y, y_hat, cfg.expectile)
            self._check(lf, i, "f")
            self._update(self.opt_f, self.f, lf)
        if upd_g:
            lg = g_loss(self.f, x, ty, y_hat, cfg.g_loss)
            self._check(lg, i, "g")
            self._update(self.opt_g, self.g, lg)
        self._advance_schedules()
        return out

    def _enot_step(self, i: int, pot: ICNN, amo: ICNN, opt_pot: torch.optim.Optimizer, opt_amo: torch.optim.Optimizer,
                   x: Tensor, y: Tensor) -> dict[str, float]:
        """Potential `pot` (on y's side) and amortiser ∇`amo` (on x's side) updated from one batch, as ENOT does:
        one forward pass of `pot` over [y; ∇amo(x)] gives both the dual loss and the expectile regulariser,
        and the amortiser's loss is back-propagated into its own parameters only."""
        cfg = self.cfg
        tx = amo.grad(x, create_graph=True)
        x_hat = tx.detach()
        # pot(∇amo(x)) once: its gradient reaches pot's parameters only through l_pot (the amortised point
        # held fixed) and amo's only through l_amo, as the `inputs` of the two backward passes say
        vals = pot(torch.cat([y, tx]))
        fy, fx_hat = vals[:len(y)], vals[len(y):]
        l_pot = fy.mean() - fx_hat.mean()
        dual = float(l_pot.detach()) + float((x * x_hat).sum(-1).mean())
        if cfg.expectile > 0:
            l_pot = l_pot + cfg.expectile_coef * expectile_from_values(x, y, x_hat, fy, fx_hat, cfg.expectile)
        l_amo = -((x * tx).sum(-1) - fx_hat).mean()
        self._check(l_pot, i, "potential")
        self._check(l_amo, i, "amortiser")
        opt_pot.zero_grad(set_to_none=True)
        opt_amo.zero_grad(set_to_none=True)
        l_pot.backward(inputs=list(pot.parameters()), retain_graph=True)
        l_amo.backward(inputs=list(amo.parameters()))
        for net, opt in ((pot, opt_pot), (amo, opt_amo)):
            nn.utils.clip_grad_norm_(net.parameters(), cfg.clip)
            opt.step()
        self._advance_schedules()
        return {"w2sq": float(((x - x_hat) ** 2).sum(-1).mean()), "dual": dual}

    def _advance_schedules(self) -> None:
        with warnings.catch_warnings():  # the schedule follows the batch count, also while one net waits
            warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()`"))
            for s in self.sched:
                s.step()

    def _check(self, loss: Tensor, i: int, which: str) -> None:
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite {which}-loss at step {i}")

    @torch.no_grad()
    def validate(self, i: int, t0: float) -> float:
        """Held-out upper bound on J(f) with the refined conjugate (lower is better); keeps the best checkpoint."""
        steps = max(2 * self.cfg.conj_steps, self.cfg.map_refine_steps, 5)
        ty = self.g.grad(self.xv)
        y_hat, res = refine_conjugate(self.f, self.xv, ty, self.g.quadratic.matrix(), steps, self.cfg.conj_solver,
                                      self.cfg.conj_step_size)
        vals = dual_value(self.f, self.xv, self.yv, y_hat)
        amort = float(((ty - y_hat) ** 2).sum(-1).mean())
        # J evaluated at an inexact ŷ is too low; f is μ-strongly convex (μ = λ_min of its quadratic), so
        # f*(x) ≤ ⟨x, ŷ⟩ − f(ŷ) + ‖∇f(ŷ) − x‖²/2μ. That bound is loose, so it only penalises residuals
        # beyond a tolerance of 1e-2 per dimension: an unsolved conjugate (a diverging f) is never "best"
        eig = torch.linalg.eigvalsh(self.f.quadratic.matrix().double())
        mu = float((eig[0] if self.cfg.val_curvature == "min" else eig.mean()).clamp(min=1e-12))
        excess = (res - 1e-2 * self.xv.shape[1]).clamp(min=0).mean()
        val_loss = vals["dual"] + float(excess) / (2 * mu)
        w2 = float(((self.xv - y_hat) * self.out_scale).pow(2).sum(-1).mean().sqrt())
        w2_dual = math.sqrt(max(vals["w2sq_dual"], 0.0)) * float(self.out_scale.mean())
        row = {"step": i, "time": time.perf_counter() - t0, "lr": self.opt_g.param_groups[0]["lr"], "dual": vals["dual"],
               "w2": w2, "w2_dual": w2_dual, "val_loss": val_loss, "amortization": amort, "conj_residual": float(res.mean())}
        for k, v in row.items():
            self.history[k].append(v)
        if not math.isfinite(val_loss):
            raise FloatingPointError(f"non-finite validation loss at step {i}")
        if val_loss < self.best[0] or self.cfg.checkpoint == "last":
            self.best = (val_loss, _clone_state(self.f, self.g, self.opt_f, self.opt_g), i)
        elif self.cfg.rollback_tol and val_loss > self.best[0] + self.cfg.rollback_tol * (abs(self.best[0]) + 1):
            self._rollback(i)
        return val_loss

    def _rollback(self, i: int) -> None:
        """Back to the best checkpoint with half the learning rate.

        An ICNN pair can leave the basin where the conjugate is solvable (the refined ŷ stops being
        the argmax and f exploits it); the held-out loss then climbs and rarely comes back at the
        same step size, so the rest of the run would be wasted.
        """
        for part, state in zip((self.f, self.g, self.opt_f, self.opt_g), self.best[1]):
            part.load_state_dict(copy.deepcopy(state))
        for sched in self.sched:
            sched.base_lrs = [lr / 2 for lr in sched.base_lrs]
        self.history["rollbacks"].append(i)

    def run(self, progress: bool = True, start: int = 0, desc: str = "fit-transport") -> tuple[ICNN, ICNN]:
        """Train for ``cfg.steps`` batches; returns (f, g) at the best validation checkpoint.

        `start` numbers the batches start + 1, …, start + steps in the history (the polish continues
        the run's count); the first validation is at `start`.
        """
        t0 = time.perf_counter() - (self.history["train_time"][0] if start else 0.0)   # times count from the run's start
        self.validate(start, t0)
        bar = tqdm(range(start + 1, start + self.cfg.steps + 1), disable=not progress, desc=desc, leave=False)
        run_dual, run_w2 = math.nan, math.nan
        try:
            for i in bar:
                out = self.step(i)
                a = 0.05 if i > 1 else 1.0
                run_w2 = out["w2sq"] if math.isnan(run_w2) else (1 - a) * run_w2 + a * out["w2sq"]
                if "dual" in out:
                    run_dual = out["dual"] if math.isnan(run_dual) else 0.95 * run_dual + 0.05 * out["dual"]
                if (i - start) % self.cfg.val_every == 0 or i == start + self.cfg.steps:
                    self.validate(i, t0)
                if self.cfg.max_time_s and time.perf_counter() - t0 > self.cfg.max_time_s:
                    self.validate(i, t0)
                    self.history["stopped_at"] = [i]
                    break
                if i % 10 == 0:
                    w2 = math.sqrt(run_w2) * float(self.out_scale.mean())
                    bar.set_postfix(dual=f"{run_dual:.4g}", W2=f"{w2:.4g}", best=f"{self.best[2]}")
        except FloatingPointError as err:
            if self.best[0] == math.inf:
                raise TransportError(f"transport fit diverged before any finite checkpoint: {err}") from None
            warnings.warn(f"transport fit diverged ({err}); stopped and kept the best checkpoint "
                          f"(step {self.best[2]})", DivergenceWarning, stacklevel=3)
            self.history["diverged_at"] = [str(err)]
        finally:
            bar.close()
        self.f.load_state_dict(self.best[1][0])
        self.g.load_state_dict(self.best[1][1])
        self.history["best_step"] = [self.best[2]]
        self.history["train_time"] = [time.perf_counter() - t0]
        return self.f, self.g

    def polish(self, progress: bool = True) -> tuple[ICNN, ICNN]:
        """After `run`: ``polish_steps`` batches of the plain dual with solved conjugates; (f, g) at its best.

        ENOT's objective (and any amortised one) differentiates f at ∇g(x), not at the conjugate's
        argmax, so its fixed point is biased: on the 128-d ridge pair the map falls short of the
        ridges' push, the same way for every seed. With the conjugate solved (L-BFGS from ∇g, residual
        ~1e-6) f's gradient is the dual's own (envelope theorem). From a random start that dual is
        unstable; from the run's end point it converges in a few hundred batches. The held-out dual,
        now with solved conjugates, ranks the checkpoints, the start included.
        """
        cfg = self.cfg
        self.cfg = polish_config(cfg)
        self.opt_f, self.opt_g = _optimizer(self.f, self.cfg), _optimizer(self.g, self.cfg)
        self.sched = [_schedule(self.opt_f, self.cfg), _schedule(self.opt_g, self.cfg)]
        self.best = (math.inf, _clone_state(self.f, self.g, self.opt_f, self.opt_g), self.best[2])
        start = self.history["step"][-1]
        self.history["polish_from"] = [start]
        try:
            return self.run(progress, start=start, desc="polish-transport")
        finally:
            self.cfg = cfg

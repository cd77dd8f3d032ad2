"""The solver's settings: the ``[transport]`` section of a profile as a dataclass."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping

from ..errors import MindgapError
from ..util.sections import Section, speed_only

__all__ = ["TransportConfig", "KnownMapsConfig", "FlowConfig", "transport_config", "TransportError"]


class TransportError(MindgapError, ValueError):
    """Bad input to the solver (non-finite rows, wrong shapes, too few samples) or a diverged run."""


@dataclass(frozen=True)
class TransportConfig(Section):
    """Architecture and optimisation of the ICNN pair (Table 2 of the paper for the ``paper`` profile)."""

    SECTION = "transport"

    blocks: int = 1                 # chained ICNN blocks per potential
    layers: int = 2                 # layers per block
    width: int = 64                 # hidden units per layer
    neural_init: float = 0.1        # initial gain of the neural part (the quadratic holds the init map)
    potential: str = "icnn"         # "icnn": convex potentials, T = ∇g is a Brenier map by construction; "mlp":
                                    # unconstrained MLP potentials (Amos 2023), monotonicity not guaranteed (audit)
    mlp_activation: str = "silu"    # activation of "mlp" potentials: "silu" (smooth) | "elu" (ENOT's choice)
    quad_rank: int = 0              # > 0: every ICNN unit also gets a convex quadratic skip Σ_r (q·x)² of this rank
                                    # (bends ridge units; see icnn.QuadraticSkip); 0 = linear skips (old behaviour)
    init: str = "gaussian"          # "gaussian": start at the Bures map; "identity": start at T(x) = x
    direction: str = "forward"      # which side holds the potential the dual optimises. "forward": f on the target
                                    # side, T = ∇f* through a conjugate solve (ill-posed when T splits modes: f must
                                    # be flat in the target's gaps and ∇f(y) = x loses its solution); "reverse":
                                    # solve target → source so f lives on the source side and T = ∇f exactly
    standardize: str = "isotropic"  # "isotropic" | "diagonal" | "none": the solver's coordinates (see TransportMap);
                                    # with subspace_tol > 0, "diagonal" scales each principal direction (PCA whitening)
    subspace_tol: float = 0.0       # > 0: map only within the span of the data's principal components with
                                    # variance > tol * the largest; the rest of x is kept (see fit)
    steps: int = 1000               # training batches (each: one conjugate solve)
    batch_size: int = 512
    lr: float = 1e-3
    lr_min_factor: float = 0.01     # cosine schedule floor, as a fraction of lr
    betas: tuple[float, ...] = (0.9, 0.999)  # Adam(W) moment decay rates; Amos (2023) uses (0.5, 0.5) on the W2 benchmark:
                                    # short memory keeps the two players from chasing stale gradients
    warmup_steps: int = 0
    weight_decay: float = 0.0       # AdamW decay of the neural weights (never of the quadratic)
    quad_lr_scale: float = 0.1      # the quadratic term's lr relative to lr
    clip: float = 1.0               # gradient-norm clipping per network
    f_per_g: int = 1                # f-updates per cycle
    g_per_f: int = 1                # g-updates per cycle (a cycle has max of the two batches)
    conj_steps: int = 3             # refinement steps of the conjugate from ∇g (0 = Makkuva min-max)
    conj_step_size: float = 1.0
    conj_warm: str = "amortized"    # conjugate warm start: "amortized" = ∇g(x); "buffer" = each training point's last
                                    # refined ŷ (∇g until it has one)
    conj_mask_tol: float = 0.0      # > 0: f's loss skips batch points whose refined conjugate still has a residual
                                    # ‖∇f(ŷ) − x‖² > tol·d (an unsolved ŷ rewards f for exploiting it); 0 = use all
    conj_solver: str = "gd"         # "gd": preconditioned steps with a fixed inverse-Hessian guess; "lbfgs": batched
                                    # L-BFGS that learns each sample's curvature (conjugate.py), same cost per step
    g_loss: str = "regression"      # "regression" (Amos) | "objective" (Makkuva)
    expectile: float = 0.0          # > 0: add ENOT's expectile regulariser with this τ (0.99 in the paper) to f's loss;
                                    # it replaces the inner conjugate solver (use with conj_steps = 0); 0 = off
    expectile_coef: float = 1.0     # weight of that regulariser
    bidirectional: bool = False     # ENOT's alternation: every other batch swaps the roles, so g (source side) is the
                                    # potential, ∇f amortises its conjugate and x, y come from target, source. Both
                                    # gradients are then trained as maps and both values as potentials; needs
                                    # conj_steps = 0 and g_loss = "objective"
    map_refine_steps: int = 10      # conjugate steps from ∇g when applying the map (0 = the bare ∇g)
    val_fraction: float = 0.1
    val_size: int = 4096            # at most this many held-out points per side
    val_every: int = 100            # steps between validations (history resolution)
    threads: int = speed_only(0)    # torch threads; 0 leaves torch's default (the machine's cores)
    max_time_s: float = 0.0         # stop (validate, keep the best) after this many seconds; 0 = no limit
    val_curvature: str = "min"      # curvature μ in the checkpoint rule's penalty for unsolved conjugates (res/2μ):
                                    # "min": λ_min of f's quadratic (a bound); "mean": its mean eigenvalue (a typical
                                    # scale). Once f's quadratic part shrinks (reverse solve, d = 64: λ_min ~ 1e-9)
                                    # the bound rejects every checkpoint after the start; "mean" keeps J's ordering
    checkpoint: str = "best"        # "best": the checkpoint with the lowest held-out loss; "last": the last finite one
                                    # (ENOT's potentials are not convex and its conjugate is never solved, so the
                                    # held-out dual does not rank its checkpoints; the cosine schedule settles it)
    precision: str = "fp32"         # "bf16": training batches run their matrix products in bfloat16 (torch.autocast;
                                    # weights, optimiser and the returned map stay float32). ~1.8x the batches per
                                    # second on a CPU with AVX512-BF16 or AMX (and on GPUs); where bf16 is emulated
                                    # (AVX2 only) tens of times slower, and the fit warns
    polish_steps: int = 0           # > 0: after the run, this many batches of the plain dual with solved conjugates
                                    # (polish_conj_steps of L-BFGS from ∇g per batch, g regressed onto them, float32),
                                    # keeping the best held-out dual. ENOT's amortised objective is biased (on the
                                    # 128-d ridge pair it leaves the ridges' push short); this removes it, and it is
                                    # stable only near the optimum, which the run has reached (see results_transport.md)
    polish_lr: float = 1e-3         # the polish's peak lr (cosine to polish_lr · lr_min_factor over polish_steps)
    polish_conj_steps: int = 20     # L-BFGS steps of each polish batch's conjugate
    rollback_tol: float = 0.0       # > 0: a validation loss above best + tol·(|best| + 1) restores the best
                                    # checkpoint (nets and optimisers) and halves the learning rate; 0 = never

    def check(self) -> None:
        positive = ("blocks", "layers", "width", "steps", "batch_size", "f_per_g", "g_per_f", "val_every", "val_size",
                    "polish_conj_steps")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise TransportError(f"[transport] {name} must be >= 1, got {getattr(self, name)}")
        choices = {"init": ("gaussian", "identity"), "potential": ("icnn", "mlp"), "mlp_activation": ("silu", "elu"), "conj_solver": ("gd", "lbfgs"), "direction": ("forward", "reverse"),
                   "val_curvature": ("min", "mean"), "checkpoint": ("best", "last"), "conj_warm": ("amortized", "buffer"), "standardize": ("isotropic", "diagonal", "none"),
                   "g_loss": ("regression", "objective"), "precision": ("fp32", "bf16")}
        for name, known in choices.items():
            if getattr(self, name) not in known:
                raise TransportError(f"[transport] {name}={getattr(self, name)!r} not one of {', '.join(known)}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise TransportError(f"[transport] betas must be two numbers in [0, 1), got {self.betas}")
        if not 0 < self.val_fraction < 1:
            raise TransportError(f"[transport] val_fraction must be in (0, 1), got {self.val_fraction}")
        if not 0 <= self.expectile <= 1:
            raise TransportError(f"[transport] expectile must be in [0, 1], got {self.expectile}")
        for name in ("lr", "clip", "polish_lr"):
            if getattr(self, name) <= 0:
                raise TransportError(f"[transport] {name} must be > 0, got {getattr(self, name)}")
        for name in ("warmup_steps", "threads", "max_time_s", "weight_decay", "quad_lr_scale", "lr_min_factor",
                     "neural_init", "quad_rank", "conj_steps", "map_refine_steps", "conj_mask_tol", "expectile_coef",
                     "rollback_tol", "subspace_tol", "polish_steps"):
            if getattr(self, name) < 0:
                raise TransportError(f"[transport] {name} must be >= 0, got {getattr(self, name)}")
        if self.bidirectional and (self.conj_steps != 0 or self.g_loss != "objective"):
            raise TransportError("[transport] bidirectional = true needs conj_steps = 0 and g_loss = 'objective' "
                                 f"(got conj_steps={self.conj_steps}, g_loss={self.g_loss!r})")
        if self.g_loss == "regression" and self.conj_steps == 0:
            raise TransportError("[transport] g_loss='regression' needs conj_steps >= 1 (nothing to regress on)")


@dataclass(frozen=True)
class KnownMapsConfig(Section):
    """Chapter 03's check of the solver on pairs whose Brenier map is known (``[known_maps]``)."""

    SECTION = "known_maps"
    dims: tuple[int, ...] = (2, 16)   # dimensions of the known-map pairs
    samples: int = 10000              # samples per side
    steps: int = 1000                 # training batches per fit (the rest of the solver: [transport])
    lr: float = 0.0                   # learning rate of these fits; 0 = the [transport] lr. A short fit may need a
                                      # larger one: ENOT's objective at 1000 batches of lr 1e-2 leaves the 2-d ridge
                                      # pair at its Gaussian start (12.1 % against 12.0 %)
    workers: int = speed_only(2)      # fits side by side (one process each)

    def check(self) -> None:
        if not self.dims or min(self.dims) < 1 or self.samples < 10 or self.steps < 1 or self.workers < 1:
            raise TransportError(f"[known_maps] need dims >= 1, samples >= 10, steps >= 1, workers >= 1; got {self}")
        if self.lr < 0:
            raise TransportError(f"[known_maps] lr must be >= 0 (0: the [transport] lr), got {self.lr}")


@dataclass(frozen=True)
class FlowConfig(Section):
    """The ``[beyond.methods.flows]`` section: the three flows of flows-for-flows."""

    SECTION = "beyond.methods.flows"
    transforms: int = 4           # affine coupling transforms per flow
    hidden: int = 64              # units of each of the two hidden layers of a conditioner
    density_steps: int = 1000     # training batches of each density flow
    morph_steps: int = 1000       # training batches of the morph
    batch_size: int = 256
    lr: float = 1e-3
    subspace_tol: float = 1e-5    # the morph acts on principal directions with variance > tol x the largest
    threads: int = speed_only(1)  # torch CPU threads (0: torch's default); speed only

    def check(self) -> None:
        for name in ("transforms", "hidden", "density_steps", "morph_steps", "batch_size"):
            if getattr(self, name) < 1:
                raise TransportError(f"[beyond.methods.flows] {name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.subspace_tol < 0 or self.threads < 0:
            raise TransportError("[beyond.methods.flows] lr must be > 0, subspace_tol and threads >= 0")


def transport_config(profile: Any = "cpu", **overrides: Any) -> TransportConfig:
    """The ``[transport]`` section of `profile` (a name, TOML path or :class:`~mindgap_lib.config.Profile`),
    with `overrides` (an unknown name is an error naming it)."""
    from ..config import load_profile

    return load_profile(profile).transport.replace(**overrides)

"""The ``[tagger.model]`` and ``[tagger.train]`` profile sections (Table 1 of the paper in ``paper``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import MindgapError, ProfileError
from ..util.sections import Section, speed_only

__all__ = ["TaggerError", "TaggerConfig", "TrainConfig", "TaggerSection", "Layers", "layers_of"]


class TaggerError(MindgapError, ValueError):
    """A tagger input that cannot be used: missing data, a bad or mismatched checkpoint, bad features."""


@dataclass(frozen=True)
class TaggerConfig(Section):
    """Architecture of the tagger."""

    SECTION = "tagger.model"
    num_particles: int = 128   # particles per jet after truncation (hardest first)
    dim: int = 512             # transformer width
    num_layers: int = 4        # encoder blocks
    num_heads: int = 8
    mlp_ratio: int = 2         # GLU hidden width = mlp_ratio * dim
    dropout: float = 0.1
    head_layers: int = 5       # linear layers of the MLP head (the first gives the calibrated latent)
    head_width: int = 128

    def check(self) -> None:
        for name in ("num_particles", "dim", "num_layers", "num_heads", "mlp_ratio", "head_layers", "head_width"):
            if getattr(self, name) < 1:
                raise ProfileError(f"[tagger.model] {name} must be >= 1, got {getattr(self, name)}")
        if self.dim % self.num_heads:
            raise ProfileError(f"[tagger.model] dim={self.dim} is not divisible by num_heads={self.num_heads}")
        if not 0 <= self.dropout < 1:
            raise ProfileError(f"[tagger.model] dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class TrainConfig(Section):
    """Optimisation of the tagger: AdamW, linear warm-up then cosine decay, resumable checkpoints."""

    SECTION = "tagger.train"
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
    length_buckets: int = 1     # steps whose jets are drawn together and split by multiplicity (1: plain
                                # random batches); K > 1 trims padding, so each step costs less
    threads: int = speed_only(0)  # torch CPU threads (0: every core); one thread is far faster than two on a
                                  # shared 2-core machine (measured: 250 vs 75 jets/s with another job running)

    def check(self) -> None:
        if not (0 < self.val_fraction and 0 < self.test_fraction and self.val_fraction + self.test_fraction < 1):
            raise ProfileError(f"[tagger.train] need 0 < val_fraction, test_fraction and their sum < 1, got "
                               f"{self.val_fraction}, {self.test_fraction}")
        for name in ("steps", "batch_size", "eval_every", "checkpoint_every", "transform_knots", "length_buckets"):
            if getattr(self, name) < 1:
                raise ProfileError(f"[tagger.train] {name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.warmup_steps < 0 or self.clip <= 0:
            raise ProfileError("[tagger.train] lr and clip must be > 0 and warmup_steps >= 0")
        for name in ("weight_decay", "threads"):
            if getattr(self, name) < 0:
                raise ProfileError(f"[tagger.train] {name} must be >= 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class TaggerSection(Section):
    """``[tagger]``: the architecture and its training."""

    SECTION = "tagger"
    model: TaggerConfig = TaggerConfig()
    train: TrainConfig = TrainConfig()


@dataclass(frozen=True)
class Layers:
    """The names of the head's layers that the book reads, defined once from the head's width.

    ``z`` is the first head layer before its GELU (``z128`` for the paper's width of 128: the
    calibrated latent), ``z_post`` the same after the GELU, then ``penultimate`` (the last hidden
    layer) and ``logits``.
    """

    z: str
    z_post: str
    penultimate: str = "penultimate"
    logits: str = "logits"

    @property
    def all(self) -> tuple[str, ...]:
        """Every latent array a latents file holds, in head order."""
        return (self.z, self.z_post, self.penultimate, self.logits)

    @property
    def evaluated(self) -> tuple[str, ...]:
        """The paper's three: where the map acts, the last hidden layer, the output."""
        return (self.z, self.penultimate, self.logits)

    @property
    def calibratable(self) -> tuple[str, ...]:
        """Layers a map may act on (the rest of the head is then applied to the moved latent)."""
        return (self.z, self.z_post)


def layers_of(model: TaggerConfig | int) -> Layers:
    """:class:`Layers` of a tagger configuration (or of a head width)."""
    width = model if isinstance(model, int) else model.head_width
    return Layers(f"z{width}", f"z{width}_post")

"""The ``[evaluate]`` (with ``[evaluate.discriminator]``) and ``[scan]`` profile sections."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import MindgapError
from ..util.sections import Section, speed_only

__all__ = ["EvaluateError", "DiscriminatorConfig", "EvaluateConfig", "ScanConfig"]


class EvaluateError(MindgapError, ValueError):
    """An evaluation input that cannot be used: missing file or key, mismatched dimensions, bad value."""


@dataclass(frozen=True)
class DiscriminatorConfig(Section):
    """The evaluation classifier (Table 3 of the paper for the ``paper`` profile; its lr is not given: 1e-3)."""

    SECTION = "evaluate.discriminator"
    layers: int = 4            # hidden Linear-LayerNorm-SiLU blocks
    width: int = 512
    epochs: int = 200
    batch_size: int = 1024
    lr: float = 1e-3
    weight_decay: float = 1e-2
    patience: int = 100        # early stopping: epochs without a better validation loss
    val_fraction: float = 0.2  # of the training folds, for early stopping
    folds: int = 3             # cross-fitting: each jet is scored by the one fit that did not train on it
    whiten: bool = True        # whiten the inputs (every direction kept); False: scale each coordinate alone
    whiten_floor: float = 1e-6  # eigenvalue floor of the whitening, as a fraction of the largest
    auc_error: str = "delong"  # or "bootstrap"
    bootstrap: int = 200       # resamples when auc_error = "bootstrap"
    threads: int = speed_only(1)  # torch CPU threads per fit (0: leave torch's setting); small MLPs run
                                  # fastest on one thread, and far faster on a busy shared machine

    def check(self) -> None:
        where = f"[{self.section_name()}]"  # also [beyond.discriminator]
        for name in ("layers", "width", "epochs", "batch_size", "patience", "bootstrap"):
            if getattr(self, name) < 1:
                raise EvaluateError(f"{where} {name} must be >= 1, got {getattr(self, name)}")
        if self.folds < 2:
            raise EvaluateError(f"{where} folds must be >= 2, got {self.folds}")
        if not self.lr > 0:
            raise EvaluateError(f"{where} lr must be > 0, got {self.lr}")
        for name in ("weight_decay", "threads"):
            if getattr(self, name) < 0:
                raise EvaluateError(f"{where} {name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.val_fraction < 1:
            raise EvaluateError(f"{where} val_fraction must be in (0, 1), got {self.val_fraction}")
        if not 0 <= self.whiten_floor < 1:
            raise EvaluateError(f"{where} whiten_floor must be in [0, 1), got {self.whiten_floor}")
        if self.auc_error not in ("delong", "bootstrap"):
            raise EvaluateError(f"{where} auc_error must be 'delong' or 'bootstrap', got {self.auc_error!r}")


@dataclass(frozen=True)
class EvaluateConfig(Section):
    """Everything an evaluation reads from the profile; code never branches on the profile name."""

    SECTION = "evaluate"
    discriminator: DiscriminatorConfig = DiscriminatorConfig()
    max_events: int = 0           # use at most this many evaluation jets per sample (0: all)
    bins: int = 40                # histogram bins for chi^2 and the figures
    score_bins: int = 50          # bins of the discriminator-score and weight figures
    pca_components: int = 5
    pca_bins: int = 30
    batch_size: int = 8192        # jets per forward pass through the head
    null_repeats: int = 50        # resamples for the W1 floor and the W1 errors (bootstrap)
    gap_sizes: tuple[int, ...] = ()  # jets per side of the source-vs-target learning curve (0: all rows; () none)
    workers: int = speed_only(1)  # discriminators side by side (Dask processes)

    def check(self) -> None:
        if any(s < 0 for s in self.gap_sizes):
            raise EvaluateError(f"[evaluate] gap_sizes must be >= 0 (0: all rows), got {list(self.gap_sizes)}")
        if (self.max_events < 0 or self.bins < 2 or self.score_bins < 2 or self.pca_bins < 2 or self.batch_size < 1
                or self.workers < 1 or self.pca_components < 1 or self.null_repeats < 2):
            raise EvaluateError(f"[evaluate]: bad sizes in {self.as_dict()}")


@dataclass(frozen=True)
class ScanConfig(Section):
    """The smearing scan of chapter 05: vertical vs horizontal as the target's IP smearing grows."""

    SECTION = "scan"
    variations: tuple[str, ...] = ("ip10", "ip20", "ip30")
    transport: dict[str, Any] = field(default_factory=dict)  # overrides of [transport] for the scan's fits
    workers: int = speed_only(1)      # scan points side by side (Dask processes)

    def check(self) -> None:
        from ..generation.variations import get_variation

        from ..generation.resmear import is_d0_only

        for name in self.variations:
            var = get_variation(name)
            if var.ip_smear_min != var.ip_smear_max or not is_d0_only(var):
                raise EvaluateError(f"[scan] variation {name!r} is not a d0-only variation of one smearing strength "
                                    f"(ip_smear {var.ip_smear_min}-{var.ip_smear_max})")
        if self.workers < 1:
            raise EvaluateError(f"[scan] workers must be >= 1, got {self.workers}")
        from ..transport.config import TransportConfig

        try:  # a typo in the overrides fails here, not when chapter 05 runs
            TransportConfig().replace(**self.transport)
        except ValueError as err:
            raise EvaluateError(f"[scan] transport: {err}") from None

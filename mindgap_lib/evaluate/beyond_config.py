"""The ``[beyond]`` profile section (chapter 06, issue #16): conditional maps, uncertainties, other methods.

Every fit here reuses the profile's ``[transport]`` section with fewer ``steps`` (the ``*_steps``
fields), so chapter 06 stays within minutes on the ``cpu`` profile; its discriminators are a
smaller ``[beyond.discriminator]`` than chapter 04's, because the study trains dozens of them.

"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..transport.config import FlowConfig
from ..util.sections import Section, speed_only
from .config import DiscriminatorConfig, EvaluateError

__all__ = ["METHOD_NAMES", "BeyondDiscriminatorConfig", "MethodsConfig", "BeyondConfig"]

METHOD_NAMES: tuple[str, ...] = ("identity", "icnn", "bures", "output_icnn", "flows4flows", "classifier_weights",
                                 "gb_weights", "emd")
LAYER_ROLES = ("z", "penultimate", "logits")


@dataclass(frozen=True)
class BeyondDiscriminatorConfig(DiscriminatorConfig):
    """The study's discriminators (the ``[evaluate.discriminator]`` fields, smaller values)."""

    SECTION = "beyond.discriminator"


@dataclass(frozen=True)
class MethodsConfig(Section):
    """``[beyond.methods]``: which calibrations to compare on the same jets, and their sizes."""

    SECTION = "beyond.methods"
    names: tuple[str, ...] = METHOD_NAMES
    refit_icnn: bool = False        # False: the transport stage's map (fitted with the full [transport]); True: refit
    output_steps: int = 1500        # the ICNN map on the ten logits (the tagger-output calibration)
    output_init: str = "identity"   # its start: the logits' covariance is set by their tails, so the Bures
                                    # start ("gaussian") stretches the bulk (measured: AUC 0.59 -> 0.70)
    gb_layer: str = "logits"        # where the BDT reweighter learns ("logits" or "z")
    gb_estimators: int = 50
    gb_depth: int = 3
    gb_learning_rate: float = 0.1
    gb_min_leaf: int = 200
    emd_points: int = 2000          # jets per side in the exact discrete OT (cost ~ points³)
    emd_neighbours: int = 1         # out of sample: mean displacement of this many nearest source jets
    flows: FlowConfig = FlowConfig()

    def check(self) -> None:
        unknown = sorted(set(self.names) - set(METHOD_NAMES))
        if unknown or not self.names:
            raise EvaluateError(f"[beyond.methods] names: unknown {unknown} (known: {', '.join(METHOD_NAMES)})")
        if self.output_init not in ("identity", "gaussian"):
            raise EvaluateError(f"[beyond.methods] output_init must be 'identity' or 'gaussian', "
                                f"got {self.output_init!r}")
        if self.gb_layer not in ("logits", "z"):
            raise EvaluateError(f"[beyond.methods] gb_layer must be 'logits' or 'z', got {self.gb_layer!r}")
        for name in ("output_steps", "gb_estimators", "gb_depth", "gb_min_leaf", "emd_points", "emd_neighbours"):
            if getattr(self, name) < 1:
                raise EvaluateError(f"[beyond.methods] {name} must be >= 1, got {getattr(self, name)}")
        if not self.gb_learning_rate > 0:
            raise EvaluateError(f"[beyond.methods] gb_learning_rate must be > 0, got {self.gb_learning_rate}")


@dataclass(frozen=True)
class BeyondConfig(Section):
    """``[beyond]``: chapter 06's study."""

    SECTION = "beyond"
    conditions: tuple[str, ...] = ("jet_pt", "jet_eta")  # per-jet columns of the latents files
    log_conditions: tuple[str, ...] = ("jet_pt",)         # ... entered as their logarithm
    context_width: int = 32            # the PICNN's condition path
    context_layers: int = 2
    conditional_steps: int = 1500      # steps of the conditional fit (the rest: [transport])
    pt_bins: int = 3                   # closure per bin of jet pT (quantiles of the target's)
    tilt: float = 2.0                  # the tilted target keeps a jet with probability ∝ (pT / pT_max)^tilt
    tilted_steps: int = 1000           # steps of the two fits on the tilted target
    variations: tuple[str, ...] = ("ip_only", "scale_only")  # alternative targets (systematic maps)
    variation_steps: int = 1000
    bootstrap: int = 5                 # refits on resampled fit rows (statistical band)
    bootstrap_steps: int = 500
    efficiencies: tuple[float, ...] = (0.5, 0.3, 0.1)  # target efficiencies of the scale-factor cuts
    llr_bins: int = 30
    max_events: int = 0                # eval jets per sample (0: all)
    null_repeats: int = 20             # resamples for the W1 floors
    auc_layers: tuple[str, ...] = ("z", "logits")  # roles (z, penultimate, logits) the AUCs are taken in
    discriminator: BeyondDiscriminatorConfig = BeyondDiscriminatorConfig()
    methods: MethodsConfig = MethodsConfig()
    workers: int = speed_only(2)       # fits and discriminators side by side (Dask processes)

    def check(self) -> None:
        for name in ("context_width", "context_layers", "conditional_steps", "pt_bins", "tilted_steps",
                     "variation_steps", "llr_bins", "null_repeats", "workers"):
            if getattr(self, name) < 1:
                raise EvaluateError(f"[beyond] {name} must be >= 1, got {getattr(self, name)}")
        if self.bootstrap < 2 or self.bootstrap_steps < 1:
            raise EvaluateError(f"[beyond] bootstrap must be >= 2 and bootstrap_steps >= 1, got {self.bootstrap}, "
                                f"{self.bootstrap_steps}")
        if not self.efficiencies or not all(0 < e < 1 for e in self.efficiencies):
            raise EvaluateError(f"[beyond] efficiencies must lie in (0, 1), got {self.efficiencies}")
        if set(self.log_conditions) - set(self.conditions) or not self.conditions:
            raise EvaluateError(f"[beyond] log_conditions {self.log_conditions} must be among conditions "
                                f"{self.conditions}")
        if set(self.auc_layers) - set(LAYER_ROLES) or not self.auc_layers:
            raise EvaluateError(f"[beyond] auc_layers must be among {LAYER_ROLES}, got {self.auc_layers}")
        if self.tilt < 0 or self.max_events < 0:
            raise EvaluateError(f"[beyond] tilt and max_events must be >= 0, got {self.tilt}, {self.max_events}")

"""The ``[evaluate]`` profile section as dataclasses (discriminator sizes under ``[evaluate.discriminator]``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..config import ProfileError, build_dataclass, section
from .discriminator import DiscriminatorConfig

__all__ = ["EvaluateConfig"]


@dataclass
class EvaluateConfig:
    """Everything an evaluation reads from the profile; code never branches on the profile name."""

    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    max_events: int = 0           # use at most this many jets per sample (0: all)
    bins: int = 40                # histogram bins for chi^2 and the figures
    score_bins: int = 50          # bins of the discriminator-score and weight figures
    pca_components: int = 5
    pca_bins: int = 30
    batch_size: int = 8192        # jets per forward pass through the head
    scan_variations: list[str] = field(default_factory=lambda: ["ip10", "ip20", "ip30"])
    scan_transport: dict[str, Any] = field(default_factory=dict)  # overrides of [transport] for scan/study fits
    workers: int = 1              # scan points computed side by side (Dask processes); speed only, never results

    def __post_init__(self) -> None:
        if (self.max_events < 0 or self.bins < 2 or self.score_bins < 2 or self.pca_bins < 2 or self.batch_size < 1
                or self.workers < 1):
            raise ProfileError(f"evaluate: bad sizes in {dataclasses.asdict(self)}")

    @classmethod
    def from_profile(cls, profile: str | Path | Mapping[str, Any], **overrides: Any) -> "EvaluateConfig":
        """Read ``[evaluate]`` of `profile`; `overrides` may name fields of either dataclass.

        An unknown key (in the profile or the overrides) is a :class:`ProfileError` naming it.
        """
        values = section(profile, "evaluate")
        disc = dict(values.pop("discriminator", {}))
        disc_fields = {f.name for f in dataclasses.fields(DiscriminatorConfig)}
        own_fields = {f.name for f in dataclasses.fields(cls)} - {"discriminator"}
        unknown = sorted(set(overrides) - disc_fields - own_fields)
        if unknown:
            raise ProfileError(f"unknown evaluate override(s): {', '.join(unknown)} "
                               f"(known: {', '.join(sorted(disc_fields | own_fields))})")
        disc.update({k: v for k, v in overrides.items() if k in disc_fields})
        values.update({k: v for k, v in overrides.items() if k in own_fields})
        values["discriminator"] = build_dataclass(DiscriminatorConfig, disc, "[evaluate.discriminator]")
        return build_dataclass(cls, values, "[evaluate]")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

"""The ``[generate]`` and ``[knobs]`` profile sections (sizes in jets)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ProfileError
from ..util.sections import Section, speed_only

__all__ = ["GenerateConfig", "KnobsConfig"]


def _positive(section: Section, *names: str) -> None:
    for name in names:
        if getattr(section, name) <= 0:
            raise ProfileError(f"[{section.section_name()}] {name} must be > 0, got {getattr(section, name)!r}")


@dataclass(frozen=True)
class GenerateConfig(Section):
    """What the generator makes: the tagger's training jets and the calibration samples."""

    SECTION = "generate"
    jets_per_shard: int = 1000          # jets written per ROOT file (Pythia start-up ~0.3 s per shard)
    train_jets_per_class: int = 4000    # nominal jets per class, all ten classes (the tagger's jets)
    calib_jets: int = 10000             # QCD jets per calibration variation
    calib_variations: tuple[str, ...] = ("nominal", "target")
    calib_process: str = "QCD_multijet"  # the paper's calibration sample (Pythia QCD multijet)
    scan_jets: int = 10000              # nominal QCD jets of the d0 scan's own sample (re-smeared per scan point)
    seed: int = 0                       # base seed: every shard's seed derives from it
    max_batch: int = 200                # most Pythia events per batch (part of the reproducibility key)
    workers: int = speed_only(1)        # shards side by side (Dask processes)

    def check(self) -> None:
        _positive(self, "jets_per_shard", "train_jets_per_class", "calib_jets", "scan_jets", "max_batch", "workers")
        if self.seed < 0:
            raise ProfileError(f"[generate] seed must be >= 0, got {self.seed}")
        from .processes import get_process
        from .variations import get_variation

        for name in self.calib_variations:
            get_variation(name)  # an unknown name raises, listing the presets
        if get_process(self.calib_process).cls != "QCD":
            raise ProfileError(f"[generate] calib_process {self.calib_process!r} does not give QCD jets")


@dataclass(frozen=True)
class KnobsConfig(Section):
    """Chapter 01's knob variants: one small QCD sample per generator/detector knob."""

    SECTION = "knobs"
    jets: int = 500        # QCD jets per knob variant (one shared seed: IP-only variants differ by smearing alone)
    live_jets: int = 200   # QCD jets regenerated per redraw of the live widget
    seed: int = 1

    def check(self) -> None:
        _positive(self, "jets", "live_jets")

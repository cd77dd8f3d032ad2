"""The stage plans: what configures each heavy stage and which stages it reads, hashed into its key.

A plan does no work. :mod:`mindgap_lib.pipeline` runs a stage into ``<artifacts>/<stage.key>/``,
the key hashing the stage's profile section (plus its own knobs) and the keys of its inputs, so a
changed knob changes that stage's key and the keys of everything downstream of it, and nothing else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from . import cache
from .config import ProfileError, load_profile

__all__ = [
    "PIPELINE_VERSION", "NOT_HASHED", "Stage", "profile_name", "profile_root", "artifacts_dir",
    "train_stage", "calib_stage", "dataset_stage", "tagger_stage", "latents_stage", "transport_stage",
    "known_maps_stage", "evaluation_stage", "scan_stage",
]

PIPELINE_VERSION = 1  # bump to invalidate every cached artifact after a change of stage semantics
NOT_HASHED = {"generate": ("workers",), "evaluate": ("workers",)}  # knobs that change speed, never results


@dataclass(frozen=True)
class Stage:
    """One stage instance: its name, what configures it and the keys of the stages it reads."""

    name: str
    config: dict[str, Any]
    inputs: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.name}-{cache.config_hash(self.config, self.inputs)}"


# ---------------------------------------------------------------- profile and locations

def _profile(profile: str | os.PathLike | Mapping[str, Any]) -> dict[str, Any]:
    prof = load_profile(profile)
    prof.setdefault("name", Path(str(profile)).stem if not isinstance(profile, Mapping) else "custom")
    return prof


def profile_name(profile: str | os.PathLike | Mapping[str, Any]) -> str:
    return str(_profile(profile)["name"])


def profile_root(profile: str | os.PathLike | Mapping[str, Any], build_dir: str | os.PathLike = "build") -> Path:
    """``build_dir/<profile name>``: notebooks, metrics.json and artifacts of one profile."""
    return Path(build_dir) / profile_name(profile)


def artifacts_dir(profile: str | os.PathLike | Mapping[str, Any], build_dir: str | os.PathLike = "build") -> Path:
    return profile_root(profile, build_dir) / "artifacts"


def _section(prof: Mapping[str, Any], name: str) -> dict[str, Any]:
    if name not in prof:
        raise ProfileError(f"profile {prof.get('name')!r} has no [{name}] section")
    skip = NOT_HASHED.get(name, ())
    return {k: v for k, v in prof[name].items() if k not in skip}


# ---------------------------------------------------------------- stage plans (no work done)

def _generate_config(prof: Mapping[str, Any], drop: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in _section(prof, "generate").items() if k not in drop}


def train_stage(profile) -> Stage:
    """Nominal jets of all ten classes (``train/nominal``), for the tagger."""
    config = _generate_config(_profile(profile), ("calib_jets", "calib_variations"))
    return Stage("train", {"generate": config, "version": PIPELINE_VERSION})


def calib_stage(profile, variation: str) -> Stage:
    """Calibration QCD of one variation (``calib/<variation>``); extra variations work the same way."""
    config = _generate_config(_profile(profile), ("train_jets_per_class", "calib_variations"))
    return Stage("calib", {"generate": config, "variation": variation, "version": PIPELINE_VERSION})


def dataset_stage(profile) -> Stage:
    """The profile's whole dataset: a folder of links to the train and calibration stages."""
    prof = _profile(profile)
    inputs = {"train": train_stage(prof).key}
    inputs.update({f"calib:{v}": calib_stage(prof, v).key for v in prof["generate"].get("calib_variations", ())})
    return Stage("dataset", {"version": PIPELINE_VERSION}, inputs)


def tagger_stage(profile, seed: int = 0) -> Stage:
    prof = _profile(profile)
    return Stage("tagger", {"tagger": _section(prof, "tagger"), "seed": seed}, {"data": train_stage(prof).key})


def latents_stage(profile, variations: Iterable[str] = ("nominal", "target"), seed: int = 0) -> Stage:
    prof = _profile(profile)
    variations = sorted(set(variations))
    inputs = {"tagger": tagger_stage(prof, seed).key, **{f"data:{v}": calib_stage(prof, v).key for v in variations}}
    return Stage("latents", {"variations": variations}, inputs)


def transport_stage(profile, layer: str = "z128", target: str = "target", seed: int = 0) -> Stage:
    prof = _profile(profile)
    config = {"transport": _section(prof, "transport"), "layer": layer, "target": target, "seed": seed}
    return Stage("transport", config, {"latents": latents_stage(prof, ("nominal", target)).key})


def known_maps_stage(profile, seed: int = 0) -> Stage:
    """Chapter 03's solver check on pairs with a known Brenier map (needs no data)."""
    return Stage("known_maps", {"transport": _section(_profile(profile), "transport"), "seed": seed,
                                "version": PIPELINE_VERSION})


def evaluation_stage(profile, layer: str = "z128", post_layer: str | None = None) -> Stage:
    prof = _profile(profile)
    inputs = {"tagger": tagger_stage(prof).key, "latents": latents_stage(prof).key,
              "transport": transport_stage(prof, layer).key}
    if post_layer:
        inputs["post_transport"] = transport_stage(prof, post_layer).key
    return Stage("evaluation", {"evaluate": _section(prof, "evaluate"), "layer": layer}, inputs)


def scan_stage(profile, variations: Iterable[str]) -> Stage:
    prof = _profile(profile)
    variations = sorted(set(variations))
    inputs = {"tagger": tagger_stage(prof).key, "latents": latents_stage(prof, ("nominal", *variations)).key}
    return Stage("scan", {"evaluate": _section(prof, "evaluate"), "transport": _section(prof, "transport"),
                          "variations": variations}, inputs)

"""The stage plans: what configures each heavy stage and which stages it reads, hashed into its key.

A plan does no work. :mod:`mindgap_lib.build.pipeline` runs a stage into ``<artifacts>/<stage.key>/``,
the key hashing
- the stage's profile section (plus its own knobs; knobs that change speed only are left out),
- a fingerprint of the source code it runs (:data:`STAGE_CODE`), so an edit to that code re-keys it,
- the device where it can change results (CUDA trains in bfloat16),
- and the keys of its inputs,
so a changed knob or an edited module changes that stage's key and the keys of everything
downstream of it, and nothing else. Variations enter by their content, not their name.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from . import cache
from ..config import ProfileError, load_profile
from ..util.fingerprint import code_fingerprint

__all__ = [
    "PIPELINE_VERSION", "NOT_HASHED", "STAGE_CODE", "Stage", "stage_code", "device_kind", "profile_name", "profile_root", "artifacts_dir",
    "train_stage", "calib_stage", "dataset_stage", "tagger_stage", "latents_stage", "transport_stage",
    "known_maps_stage", "evaluation_stage", "scan_stage", "split_config",
]

PIPELINE_VERSION = 2  # bump to invalidate every cached artifact after a change of the layout itself
# knobs that change speed, never results
NOT_HASHED = {"generate": ("workers",), "evaluate": ("workers",), "transport": ("threads",)}
# knobs of a section that belong to another stage: the known-map check and the scan
_CHECK_KEYS = ("check_dims", "check_samples", "check_steps")
_SCAN_KEYS = ("scan_variations", "scan_transport")

_GENERATION = ("generate", "detector", "jets", "truth", "processes", "variations", "io", "schema", "dataset")
# the mindgap_lib modules and packages whose code decides each stage's results
STAGE_CODE: dict[str, tuple[str, ...]] = {
    "train": _GENERATION,
    "calib": _GENERATION,
    "dataset": ("pipeline",),
    "tagger": ("tagger", "io", "schema"),
    "latents": ("tagger", "io", "schema", "dataset"),
    "transport": ("transport", "splits"),
    "known_maps": ("transport",),
    "evaluation": ("evaluate", "transport", "splits", "tagger/model", "tagger/checkpoint", "tagger/features", "schema"),
    "scan": ("evaluate", "transport", "splits", "tagger/model", "tagger/checkpoint", "tagger/features", "schema"),
    "knobs": _GENERATION,
}


def stage_code(name: str) -> str:
    """The code fingerprint of stage `name` (see :data:`STAGE_CODE`)."""
    return code_fingerprint(STAGE_CODE[name])


def device_kind(device: str | object) -> str:
    """``cpu`` / ``cuda`` / ``mps``: what enters a key (``cuda:1`` computes what ``cuda:0`` does)."""
    return str(device).split(":")[0]


@dataclass(frozen=True)
class Stage:
    """One stage instance: its name, what configures it and the keys of the stages it reads."""

    name: str
    config: dict[str, Any]
    inputs: dict[str, str] = field(default_factory=dict)
    code: str = ""  # fingerprint of the code it runs (filled from STAGE_CODE when empty)

    def __post_init__(self) -> None:
        if not self.code:
            kind = self.name.split("[")[0]
            object.__setattr__(self, "code", stage_code(kind) if kind in STAGE_CODE else "")

    @property
    def key(self) -> str:
        return f"{self.name}-{cache.config_hash({**self.config, '_code': self.code}, self.inputs)}"


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


def _section(prof: Mapping[str, Any], name: str, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    if name not in prof:
        raise ProfileError(f"profile {prof.get('name')!r} has no [{name}] section")
    skip = (*NOT_HASHED.get(name, ()), *drop)
    out = {k: v for k, v in prof[name].items() if k not in skip}
    if name == "evaluate" and isinstance(out.get("discriminator"), Mapping):
        out["discriminator"] = {k: v for k, v in out["discriminator"].items() if k != "threads"}
    return out


def _variation(name: str) -> dict[str, Any]:
    """A variation by content: editing a preset re-keys its jets (its name stays for the folders)."""
    from ..generation.variations import get_variation

    return get_variation(name).to_dict()


# ---------------------------------------------------------------- stage plans (no work done)

def _generate_config(prof: Mapping[str, Any], drop: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in _section(prof, "generate").items() if k not in drop}


def train_stage(profile) -> Stage:
    """Nominal jets of all ten classes (``train/nominal``), for the tagger."""
    config = _generate_config(_profile(profile), ("calib_jets", "calib_variations", "calib_process"))
    return Stage("train", {"generate": config, "variation": _variation("nominal"), "version": PIPELINE_VERSION})


def calib_stage(profile, variation: str) -> Stage:
    """Calibration QCD of one variation (``calib/<variation>``); extra variations work the same way."""
    config = _generate_config(_profile(profile), ("train_jets_per_class", "calib_variations"))
    return Stage("calib", {"generate": config, "variation": variation, "content": _variation(variation),
                           "version": PIPELINE_VERSION})


def dataset_stage(profile) -> Stage:
    """The profile's whole dataset: a folder of links to the train and calibration stages."""
    prof = _profile(profile)
    inputs = {"train": train_stage(prof).key}
    inputs.update({f"calib:{v}": calib_stage(prof, v).key for v in prof["generate"].get("calib_variations", ())})
    return Stage("dataset", {"version": PIPELINE_VERSION}, inputs)


def tagger_stage(profile, seed: int = 0, device: str = "cpu") -> Stage:
    prof = _profile(profile)
    return Stage("tagger", {"tagger": _section(prof, "tagger"), "seed": seed, "device": device_kind(device)},
                 {"data": train_stage(prof).key})


def latents_stage(profile, variations: Iterable[str] = ("nominal", "target"), seed: int = 0,
                  device: str = "cpu") -> Stage:
    prof = _profile(profile)
    variations = sorted(set(variations))
    inputs = {"tagger": tagger_stage(prof, seed, device).key,
              **{f"data:{v}": calib_stage(prof, v).key for v in variations}}
    return Stage("latents", {"variations": variations, "device": device_kind(device)}, inputs)


def split_config(prof: Mapping[str, Any]) -> dict[str, Any]:
    """The ``[split]`` section: which calibration rows fit maps and which evaluate them."""
    from ..splits import SplitConfig

    return dataclasses.asdict(SplitConfig.from_profile(prof))


def transport_stage(profile, layer: str = "z128", target: str = "target", seed: int = 0,
                    device: str = "cpu") -> Stage:
    prof = _profile(profile)
    config = {"transport": _section(prof, "transport", _CHECK_KEYS), "split": split_config(prof), "layer": layer,
              "target": target, "seed": seed, "device": device_kind(device)}
    return Stage("transport", config, {"latents": latents_stage(prof, ("nominal", target), device=device).key})


def known_maps_stage(profile, seed: int = 0) -> Stage:
    """Chapter 03's solver check on pairs with a known Brenier map (needs no data)."""
    return Stage("known_maps", {"transport": _section(_profile(profile), "transport"), "seed": seed,
                                "version": PIPELINE_VERSION})


def evaluation_stage(profile, layer: str = "z128", post_layer: str | None = None, device: str = "cpu") -> Stage:
    prof = _profile(profile)
    inputs = {"tagger": tagger_stage(prof, device=device).key, "latents": latents_stage(prof, device=device).key,
              "transport": transport_stage(prof, layer, device=device).key}
    if post_layer:
        inputs["post_transport"] = transport_stage(prof, post_layer, device=device).key
    return Stage("evaluation", {"evaluate": _section(prof, "evaluate", _SCAN_KEYS), "split": split_config(prof),
                                "layer": layer, "device": device_kind(device)}, inputs)


def scan_stage(profile, variations: Iterable[str], device: str = "cpu") -> Stage:
    prof = _profile(profile)
    variations = sorted(set(variations))
    inputs = {"tagger": tagger_stage(prof, device=device).key,
              "latents": latents_stage(prof, ("nominal", *variations), device=device).key}
    return Stage("scan", {"evaluate": _section(prof, "evaluate"), "transport": _section(prof, "transport", _CHECK_KEYS),
                          "split": split_config(prof), "variations": variations,
                          "contents": {v: _variation(v) for v in variations}, "device": device_kind(device)}, inputs)

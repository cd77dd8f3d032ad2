"""Profiles: every size and hyper-parameter of a run, kept as data (one TOML file per profile)."""

from __future__ import annotations

import copy
import dataclasses
import tomllib
from pathlib import Path
from typing import Any, Mapping

__all__ = ["PROFILES_DIR", "ProfileError", "available_profiles", "load_profile", "section", "apply_overrides", "build_dataclass"]

PROFILES_DIR = Path(__file__).parent / "profiles"


class ProfileError(ValueError):
    """A profile that does not exist, or an override that names an unknown key."""


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))


def load_profile(profile: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """Return the profile as a nested dict.

    `profile` is a name (``tiny``, ``cpu``, ``paper``), a path to a TOML file, or an
    already-loaded mapping (returned as a deep copy, so callers may mutate freely).
    """
    if isinstance(profile, Mapping):
        return copy.deepcopy(dict(profile))
    path = Path(profile)
    if path.suffix != ".toml":
        path = PROFILES_DIR / f"{profile}.toml"
    if not path.is_file():
        raise ProfileError(f"unknown profile {str(profile)!r}: no file {path} (available: {', '.join(available_profiles())})")
    with path.open("rb") as fh:
        return tomllib.load(fh)


def section(profile: str | Path | Mapping[str, Any], name: str) -> dict[str, Any]:
    """One stage's section of a profile, e.g. ``section("cpu", "transport")``."""
    prof = load_profile(profile)
    if name not in prof:
        raise ProfileError(f"profile {prof.get('name', profile)!r} has no [{name}] section")
    return dict(prof[name])


def apply_overrides(values: Mapping[str, Any], overrides: Mapping[str, Any], where: str = "overrides") -> dict[str, Any]:
    """Copy of `values` with `overrides` applied; an unknown key is an error naming it."""
    unknown = sorted(set(overrides) - set(values))
    if unknown:
        raise ProfileError(f"unknown {where}: {', '.join(unknown)} (known: {', '.join(sorted(values))})")
    out = dict(values)
    out.update(overrides)
    return out


def build_dataclass(cls: type, values: Mapping[str, Any], where: str):
    """Instantiate dataclass `cls` from `values`, naming unknown/missing fields in the error."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ProfileError(f"{where}: unknown parameter(s) {', '.join(unknown)} for {cls.__name__} (known: {', '.join(sorted(names))})")
    try:
        return cls(**values)
    except TypeError as err:
        raise ProfileError(f"{where}: {err}") from None

"""Profiles: every size and hyper-parameter of a run, as data, resolved once into a typed :class:`Profile`.

A profile is a TOML file (``mindgap_lib/profiles/<name>.toml`` or any path) with one table per
section. :func:`load_profile` reads it strictly (a missing or unknown key, a wrong type or a value
out of range is a :class:`ProfileError` naming the file, section and key) into a frozen
:class:`Profile` whose attributes are the sections' dataclasses. Library functions take their own
section; only the edges (command line, chapter runner, chapters) accept a profile by name.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .errors import ProfileError
from .evaluate.beyond_config import BeyondConfig
from .evaluate.config import EvaluateConfig, ScanConfig
from .generation.config import GenerateConfig, KnobsConfig
from .geometry.config import GeometryConfig
from .splits import SplitConfig
from .tagger.config import TaggerSection
from .transport.config import KnownMapsConfig, TransportConfig
from .util.sections import Section, hashed

__all__ = ["PROFILES_DIR", "ProfileError", "Profile", "available_profiles", "load_profile", "profile_path", "hashed"]

PROFILES_DIR = Path(__file__).parent / "profiles"


@dataclass(frozen=True)
class Profile:
    """One run's configuration: a section per stage family, all frozen and checked."""

    name: str
    generate: GenerateConfig
    knobs: KnobsConfig
    tagger: TaggerSection
    split: SplitConfig
    transport: TransportConfig
    known_maps: KnownMapsConfig
    evaluate: EvaluateConfig
    scan: ScanConfig
    geometry: GeometryConfig
    beyond: BeyondConfig
    source: str = ""   # the file it was read from ("" when built in code)

    @classmethod
    def sections(cls) -> dict[str, type[Section]]:
        return {f.name: f.type if isinstance(f.type, type) else globals()[f.type]
                for f in dataclasses.fields(cls) if f.name not in ("name", "source")}

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], source: str = "") -> "Profile":
        """Build from a parsed TOML document; errors name `source` (the file), section and key."""
        where = f"profile {source or values.get('name', '<mapping>')}"
        sections = cls.sections()
        unknown = sorted(set(values) - set(sections) - {"name"})
        if unknown:
            raise ProfileError(f"{where}: unknown section(s) {', '.join(unknown)} (known: {', '.join(sections)})")
        missing = [s for s in sections if s not in values]
        if missing or "name" not in values:
            raise ProfileError(f"{where}: missing {', '.join(['name'] * ('name' not in values) + [f'[{m}]' for m in missing])}")
        built = {}
        for name, section in sections.items():
            try:
                built[name] = section.from_mapping(values[name] if isinstance(values[name], Mapping) else {}, f"[{name}]")
            except ProfileError as err:
                raise ProfileError(f"{where}: {err}") from None
            except ValueError as err:  # a section's own check (TransportError, EvaluateError, ...)
                raise ProfileError(f"{where}: {err}") from None
        if not isinstance(values["name"], str) or not values["name"]:
            raise ProfileError(f"{where}: name must be a non-empty string")
        return cls(name=values["name"], source=source, **built)

    def with_sections(self, **changes: Any) -> "Profile":
        """A copy with whole sections replaced (``prof.with_sections(transport=prof.transport.replace(steps=10))``)."""
        return dataclasses.replace(self, **changes)

    def one_core(self) -> "Profile":
        """The same profile with every speed-only ``workers`` and ``threads`` set to 1: for a stage that
        runs beside others, one core each (the results and the cache keys do not change)."""
        return dataclasses.replace(self, **{name: _one_core(getattr(self, name)) for name in self.sections()})

    def hashed(self, section: str) -> Any:
        """Section `section` as plain data without its speed-only fields (what enters cache keys)."""
        return hashed(getattr(self, section))


def _one_core(section: Section) -> Section:
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        if isinstance(value, Section):
            changes[f.name] = _one_core(value)
        elif not f.metadata.get("hash", True) and f.name in ("workers", "threads"):
            changes[f.name] = 1
    return dataclasses.replace(section, **changes) if changes else section


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))


def profile_path(profile: str | Path) -> Path:
    """The TOML file of a profile name (``cpu``) or path (``my.toml``)."""
    path = Path(profile)
    if path.suffix != ".toml":
        path = PROFILES_DIR / f"{profile}.toml"
    if not path.is_file():
        raise ProfileError(f"unknown profile {str(profile)!r}: no file {path} (available: {', '.join(available_profiles())})")
    return path


def load_profile(profile: str | Path | Mapping[str, Any] | Profile) -> Profile:
    """The typed profile of a name (``tiny``, ``cpu``, ``paper``), a TOML path, a parsed mapping, or a Profile."""
    if isinstance(profile, Profile):
        return profile
    if isinstance(profile, Mapping):
        return Profile.from_mapping(profile)
    path = profile_path(profile)
    try:
        with path.open("rb") as fh:
            values = tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise ProfileError(f"profile {path}: not valid TOML ({err})") from None
    except OSError as err:
        raise ProfileError(f"profile {path}: cannot read ({err})") from None
    return Profile.from_mapping(values, str(path))

"""Typed, frozen configuration sections, built from a profile's TOML tables with strict checks.

A section is a frozen dataclass deriving from :class:`Section`. Building one from a mapping
(:meth:`Section.from_mapping`) is strict: a key the dataclass does not know and a field the
mapping does not give are errors naming the key and where it was read (so a custom profile never
silently inherits the ``paper`` sizes of a default); values are checked against the field's type
(``lr = "abc"`` is an error, an int is accepted for a float) and then by the section's own
:meth:`Section.check` (ranges). Fields that change speed only are declared with :func:`speed_only`
and left out of :func:`hashed`, the dict that enters cache keys.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Mapping, TypeVar

from ..errors import ProfileError

__all__ = ["Section", "speed_only", "hashed", "S"]

S = TypeVar("S", bound="Section")


def speed_only(default: Any) -> Any:
    """A field that changes how fast a stage runs, never its results: not part of any cache key."""
    return dataclasses.field(default=default, metadata={"hash": False})


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """`value` checked against the annotation `tp` (lists become tuples for tuple fields)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arm in typing.get_args(tp):
            if arm is type(None):
                if value is None:
                    return None
                continue
            try:
                return _coerce(value, arm, where)
            except ProfileError as err:
                errors.append(str(err))
        raise ProfileError(errors[0] if errors else f"{where} must not be None")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ProfileError(f"{where} must be a list, got {value!r}")
        args = typing.get_args(tp)
        item = args[0] if args else Any
        items = [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise ProfileError(f"{where} must be a table {{...}}, got {value!r}")
        return dict(value)
    if isinstance(tp, type) and issubclass(tp, Section):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ProfileError(f"{where} must be a table {{...}}, got {value!r}")
        return tp.from_mapping(value, f"[{tp.section_name()}]")
    if tp is bool:
        if not isinstance(value, bool):
            raise ProfileError(f"{where} must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ProfileError(f"{where} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ProfileError(f"{where} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ProfileError(f"{where} must be a string, got {value!r}")
        return value
    return value


@dataclasses.dataclass(frozen=True)
class Section:
    """Base of the profile sections: type-checked on construction, then :meth:`check` for ranges."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            where = f"[{self.section_name()}] {f.name}"
            object.__setattr__(self, f.name, _coerce(getattr(self, f.name), hints[f.name], where))
        self.check()

    def check(self) -> None:
        """Ranges and choices; raise :class:`ProfileError` naming the section and key."""

    @classmethod
    def section_name(cls) -> str:
        return getattr(cls, "SECTION", cls.__name__)

    @classmethod
    def from_mapping(cls: type[S], values: Mapping[str, Any], where: str = "", *, partial: bool = False) -> S:
        """Build from a TOML table: unknown keys and (unless `partial`) missing keys are errors."""
        where = where or f"[{cls.section_name()}]"
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ProfileError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(names)})")
        missing = [n for n in names if n not in values]
        if missing and not partial:
            raise ProfileError(f"{where}: missing key(s) {', '.join(missing)}")
        return cls(**values)

    def replace(self: S, **changes: Any) -> S:
        """A copy with `changes` (checked like the profile; an unknown name is an error naming it)."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ProfileError(f"[{self.section_name()}]: unknown key(s) {', '.join(unknown)} "
                               f"(known: {', '.join(sorted(names))})")
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def hashed(value: Any) -> Any:
    """Plain data for a cache key: sections as dicts without their :func:`speed_only` fields."""
    if isinstance(value, Section):
        return {f.name: hashed(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.metadata.get("hash", True)}
    if isinstance(value, Mapping):
        return {str(k): hashed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [hashed(v) for v in value]
    return value

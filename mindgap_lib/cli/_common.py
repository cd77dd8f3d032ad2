"""Helpers shared by the subcommands: overrides of a profile section, and checks made before any work."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import MindgapError
from ..util import atomic
from ..util.sections import Section

__all__ = ["UsageError", "parse_overrides", "section_with", "writable_folder"]


class UsageError(MindgapError, ValueError):
    """Command-line arguments that cannot work together or cannot be used."""


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """``key=value`` pairs from ``--set``; values parsed as JSON when they can be (numbers, booleans, lists)."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set expects key=value, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def section_with(section: Section, items: list[str] | None) -> Section:
    """`section` with the ``--set`` overrides applied (checked like the profile: names, types, ranges)."""
    return section.replace(**parse_overrides(items)) if items else section


def writable_folder(path: str | os.PathLike, what: str = "--out") -> Path:
    """A folder that exists (created if needed) and can be written, checked before any work starts."""
    return atomic.writable_folder(path, lambda reason: UsageError(f"{what} {path}: {reason}"))

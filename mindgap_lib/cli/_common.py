"""Helpers shared by the subcommands."""

from __future__ import annotations

import json

__all__ = ["parse_overrides"]


def parse_overrides(items: list[str] | None) -> dict:
    """``key=value`` pairs from ``--set``; values parsed as JSON when they can be (numbers, booleans, lists)."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects key=value, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out

"""Lazy package exports (PEP 562): ``import mindgap_lib.transport`` costs nothing until a name is used.

A package's ``__init__`` maps each public name to the submodule defining it; the submodule (and
torch, POT, pythia behind it) is imported on first access. This keeps ``mindgap --help`` instant
and lets the profile's section dataclasses load without the heavy packages around them.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: dict[str, tuple[str, ...]]) -> tuple[list[str], Callable[[str], Any]]:
    """``(__all__, __getattr__)`` for `package`, from ``{".submodule": ("name", ...)}``."""
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(where[name], package), name)

    return sorted(where), __getattr__

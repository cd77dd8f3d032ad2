"""The versions of what produced a result, recorded beside it (completion marks, metrics.json)."""

from __future__ import annotations

import platform
from importlib import metadata

__all__ = ["package_versions"]

PACKAGES = ("mindgap_lib", "numpy", "torch", "pythia8mc", "fastjet", "uproot", "awkward", "scikit-learn",
            "pot", "plotly", "papermill", "jupyter-book")


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out

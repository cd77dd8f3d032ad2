"""Plot conventions shared by the chapters: plotly, rendered so that a static Jupyter Book keeps it."""

from __future__ import annotations

import plotly.io as pio

__all__ = ["setup_plotly", "COLORS"]

# source (simulation), target (data), calibrated: the three samples every comparison shows
COLORS = {"source": "#1f77b4", "target": "#222222", "calibrated": "#d62728", "vertical": "#2ca02c"}


def setup_plotly() -> None:
    """Use the `notebook` renderer: outputs carry plotly.js inline, so the built HTML draws offline.

    (Jupyter Book 1.x drops plotly figures rendered with the default mimetype-only renderer.)
    """
    pio.renderers.default = "notebook"
    pio.templates.default = "plotly_white"

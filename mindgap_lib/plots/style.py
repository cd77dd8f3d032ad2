"""Plot conventions shared by the chapters: plotly, rendered so that a static Jupyter Book keeps it."""

from __future__ import annotations

import plotly.io as pio

__all__ = ["setup_plotly", "show_in", "COLORS"]

# source (simulation), target (data), calibrated: the three samples every comparison shows
COLORS = {"source": "#1f77b4", "target": "#222222", "calibrated": "#d62728", "vertical": "#2ca02c"}


def setup_plotly() -> None:
    """Use the `notebook` renderer: outputs carry plotly.js inline, so the built HTML draws offline.

    (Jupyter Book 1.x drops plotly figures rendered with the default mimetype-only renderer.)
    """
    pio.renderers.default = "notebook"
    pio.templates.default = "plotly_white"


def show_in(out, fig) -> None:
    """Make the ipywidgets ``Output`` `out` show `fig` alone, by setting its outputs (no output capture).

    Capturing (``with out:`` around ``clear_output`` and ``fig.show()``) routes the kernel's output
    messages through the widget, and a papermill run of such a cell occasionally never finished:
    the tiny CI run hung on chapter 06's live figure twice, kernel idle and nbclient waiting.
    Setting the widget's ``outputs`` is a plain widget-state update, in a live kernel and in a batch run.
    """
    import json

    # plotly's own mimetype for JupyterLab, and HTML that draws with the plotly.js the page already holds
    data = {"application/vnd.plotly.v1+json": json.loads(pio.to_json(fig, validate=False)),
            "text/html": pio.to_html(fig, include_plotlyjs=False, full_html=False)}
    out.outputs = ({"output_type": "display_data", "data": data, "metadata": {}},)

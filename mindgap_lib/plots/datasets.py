"""Figures of the datasets chapter: normalised histograms of samples with ratio panels underneath."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

__all__ = ["CLASS_COLORS", "density", "step", "add_sample", "ratio_layout", "compare"]

CLASS_COLORS = dict(zip(("QCD", "Hbb", "Hcc", "Hgg", "H4q", "Hqql", "Zqq", "Wqq", "Tbqq", "Tbl"),
                        ("#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3", "#FF6692", "#B6E880",
                         "#FF97FF", "#FECB52")))

Column = tuple[str, str, np.ndarray, bool]  # (axis label, key, bin edges, log y)


def density(x: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normalised histogram and its Poisson error (per unit of x); under/overflow folded into the edge bins."""
    x = np.clip(np.asarray(x, dtype=float), edges[0], np.nextafter(edges[-1], edges[0]))
    n, _ = np.histogram(x, edges)
    norm = max(n.sum(), 1) * np.diff(edges)
    return n / norm, np.sqrt(n) / norm


def step(edges: np.ndarray, y: np.ndarray, name: str, color: str, **kw) -> go.Scatter:
    """A histogram drawn as a step line (plotly has no histtype='step')."""
    return go.Scatter(x=edges, y=np.append(y, y[-1]), mode="lines", line=dict(shape="hv", color=color, width=2),
                      name=name, **kw)


def add_sample(fig: go.Figure, col: int, edges: np.ndarray, values: np.ndarray, ref_values: np.ndarray, name: str,
               color: str, *, visible: bool = True, showlegend: bool = True) -> int:
    """One sample's normalised histogram (top row) and, unless it is the reference, its ratio (bottom row).

    Returns the number of traces added.
    """
    h, e = density(values, edges)
    fig.add_trace(step(edges, h, name, color, legendgroup=name, showlegend=showlegend, visible=visible), row=1, col=col)
    if values is ref_values:
        return 1
    h_ref, e_ref = density(ref_values, edges)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(h_ref > 0, h / h_ref, np.nan)
        err = np.where(h_ref > 0, r * np.sqrt((e / np.maximum(h, 1e-300)) ** 2 + (e_ref / h_ref) ** 2), np.nan)
    fig.add_trace(go.Scatter(x=0.5 * (edges[1:] + edges[:-1]), y=r, error_y=dict(array=err, thickness=1),
                             mode="markers", marker=dict(color=color, size=5), name=name, legendgroup=name,
                             showlegend=False, visible=visible), row=2, col=col)
    return 2


def ratio_layout(columns: Sequence[Column], ratio_range: tuple[float, float] = (0.0, 2.0), height: int = 520) -> go.Figure:
    """An empty figure: one column per (label, key, edges, log-y), histograms over a ratio panel."""
    fig = make_subplots(rows=2, cols=len(columns), row_heights=[0.72, 0.28], shared_xaxes=True,
                        vertical_spacing=0.04, horizontal_spacing=0.07)
    for c, (label, _key, _edges, logy) in enumerate(columns, 1):
        fig.add_hline(y=1.0, line=dict(color="grey", dash="dot", width=1), row=2, col=c)
        fig.update_yaxes(type="log" if logy else "linear", row=1, col=c)
        fig.update_yaxes(range=list(ratio_range), row=2, col=c, title_text="ratio" if c == 1 else None)
        fig.update_xaxes(title_text=label, row=2, col=c)
    fig.update_yaxes(title_text="normalised", row=1, col=1)
    fig.update_layout(height=height, legend=dict(orientation="h", y=1.1), margin=dict(t=70, b=50))
    return fig


def compare(columns: Sequence[Column], samples: Mapping[str, Mapping[str, np.ndarray]], ref: str,
            colors: Mapping[str, str], **layout) -> go.Figure:
    """Normalised histograms of every sample per column, with ratios sample / `ref` underneath."""
    fig = ratio_layout(columns, **layout)
    for c, (_label, key, edges, _logy) in enumerate(columns, 1):
        for name, values in samples.items():
            add_sample(fig, c, edges, values[key], samples[ref][key], name, colors[name], showlegend=c == 1)
    return fig

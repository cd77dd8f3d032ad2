"""Figures of the geometry chapter: dim(Q) curves with their error bands."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import plotly.graph_objects as go

__all__ = ["dimension_band"]


def dimension_band(fig: go.Figure, cd: Mapping, name: str, color: str, row: int | None = None,
                   col: int | None = None, dash: str | None = None) -> None:
    """dim(Q) of one sample (a ``CorrelationDimension.as_dict()``) with its ±1σ band, finite points only;
    `row`/`col` place it in a figure made with subplots."""
    q, dim, err = (np.asarray(cd[k], float) for k in ("q", "dim", "dim_err"))
    ok = np.isfinite(dim)
    q, dim, err = q[ok], dim[ok], err[ok]
    fig.add_trace(go.Scatter(x=np.r_[q, q[::-1]], y=np.r_[dim + err, (dim - err)[::-1]], fill="toself",
                             line=dict(width=0), fillcolor=color, opacity=0.2, showlegend=False, hoverinfo="skip"),
                  row=row, col=col)
    fig.add_trace(go.Scatter(x=q, y=dim, name=name, line=dict(color=color, dash=dash)), row=row, col=col)

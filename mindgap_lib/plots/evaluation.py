"""Plotly figures of the evaluation chapters, built from the stored figure data (no recomputation).

Where a knob matters (which observable, which comparison, which layer) the figure carries every
precomputed variant behind a dropdown, so the static book keeps the interactivity.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .style import COLORS

__all__ = ["PAPER_AUC", "auc_table_markdown", "corner_figure", "roc_figure", "score_figure", "observable_figure",
           "weights_figure", "scan_figure", "scan_hist_figure", "post_activation_figure"]

LAYER_LABELS = {"z128": "z128", "z128_post": "z128 (post-GELU)", "penultimate": "penultimate", "logits": "logits"}
SAMPLE_COLORS = {**COLORS, "vertical_logits": "#9467bd", "horizontal": COLORS["calibrated"]}

# What the paper's text says (Sec. 5.1); the source-vs-target AUCs are only drawn in its Fig. 4a
PAPER_AUC = {
    "source_vs_target": {"z128": "largest (Fig. 4a)", "penultimate": "smaller (Fig. 4a)", "logits": "smallest (Fig. 4a)"},
    "calibrated_vs_target": {"z128": "≈ 1.0", "penultimate": "≈ 0.5", "logits": "≈ 0.5"},
    "target_vs_target": {"z128": "not shown", "penultimate": "not shown", "logits": "not shown"},
}


def auc_table_markdown(auc: Mapping[str, Mapping[str, Mapping[str, float]]], paper: Mapping = PAPER_AUC) -> str:
    """Markdown table: our AUC ± error beside the paper's statement, per comparison and layer."""
    layers = list(next(iter(auc.values())))
    head = "| comparison | " + " | ".join(f"{LAYER_LABELS.get(l, l)} (ours) | paper" for l in layers) + " |"
    lines = [head, "|" + "---|" * (1 + 2 * len(layers))]
    for comp, row in auc.items():
        cells = [f"{row[l]['value']:.3f} ± {row[l]['err']:.3f} | {paper.get(comp, {}).get(l, '—')}" for l in layers]
        lines.append(f"| {comp.replace('_', ' ')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _step(edges: Sequence[float], y: Sequence[float], name: str, color: str, dash: str | None = None,
          show: bool = True, group: str | None = None) -> go.Scatter:
    return go.Scatter(x=list(edges), y=list(y) + [list(y)[-1]], mode="lines", line={"shape": "hv", "color": color, "dash": dash},
                      name=name, legendgroup=group or name, showlegend=show)


def _dropdown(labels: Sequence[str], groups: Sequence[Sequence[int]], n_traces: int, titles: Sequence[str] | None = None) -> list:
    buttons = []
    for i, (label, idx) in enumerate(zip(labels, groups)):
        vis = [False] * n_traces
        for j in idx:
            vis[j] = True
        layout = {"title.text": titles[i]} if titles else {}
        buttons.append({"label": label, "method": "update", "args": [{"visible": vis}, layout]})
    # right of the plot, above the legend (see _LEGEND): never over the title
    return [{"buttons": buttons, "direction": "down", "x": 1.02, "xanchor": "left", "y": 1.0, "yanchor": "top"}]


_LEGEND = {"x": 1.02, "xanchor": "left", "y": 0.88, "yanchor": "top"}


def corner_figure(pca: Mapping, views: Sequence[tuple[str, str]] = (("source", "target"), ("calibrated", "target"))) -> go.Figure:
    """Fig. 3: corner plot of the leading PCA components (target frame), one dropdown entry per view."""
    edges = [np.asarray(e) for e in pca["edges"]]
    centers = [(e[1:] + e[:-1]) / 2 for e in edges]
    k = len(edges)
    fig = make_subplots(k, k, horizontal_spacing=0.02, vertical_spacing=0.02)
    groups: list[list[int]] = []
    for v, view in enumerate(views):
        idx = []
        for s, name in enumerate(view):
            color = SAMPLE_COLORS.get(name, "#888")
            for i in range(k):
                fig.add_trace(_step(edges[i], pca["hist1d"][name][i], name, color, show=(i == 0), group=f"{v}{name}"), i + 1, i + 1)
                idx.append(len(fig.data) - 1)
                for j in range(i + 1, k):
                    z = np.asarray(pca["hist2d"][name][f"{i},{j}"])
                    fig.add_trace(go.Contour(x=centers[i], y=centers[j], z=z, showscale=False, ncontours=6,
                                             contours={"coloring": "lines"}, line={"width": 1},
                                             colorscale=[[0, color], [1, color]], name=name, showlegend=False,
                                             legendgroup=f"{v}{name}", hoverinfo="skip"), j + 1, i + 1)
                    idx.append(len(fig.data) - 1)
        groups.append(idx)
    for t, trace in enumerate(fig.data):
        trace.visible = t in groups[0]
    for i in range(k):
        fig.update_xaxes(title_text=f"PC{i + 1}", row=k, col=i + 1)
        if i:
            fig.update_yaxes(title_text=f"PC{i + 1}", row=i + 1, col=1)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(height=min(180 * k + 80, 820), margin={"t": 70},
                      legend=_LEGEND, updatemenus=_dropdown([f"{a} vs {b}" for a, b in views], groups, len(fig.data)),
                      title="Leading principal components of the target's z128")
    return fig


def roc_figure(roc: Mapping[str, Mapping[str, Mapping[str, list]]]) -> go.Figure:
    """Fig. 4a / 9: ROC curves of the discriminators, one dropdown entry per comparison."""
    fig, groups, colors = go.Figure(), [], ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"]
    for comp, layers in roc.items():
        idx = []
        for c, (layer, pts) in enumerate(layers.items()):
            fig.add_trace(go.Scatter(x=pts["fpr"], y=pts["tpr"], name=LAYER_LABELS.get(layer, layer),
                                     line={"color": colors[c % 4]}))
            idx.append(len(fig.data) - 1)
        groups.append(idx)
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], line={"dash": "dot", "color": "#999"}, name="random"))
    for t, trace in enumerate(fig.data[:-1]):
        trace.visible = t in groups[0]
    groups = [g + [len(fig.data) - 1] for g in groups]
    fig.update_layout(xaxis_title="false-positive rate", yaxis_title="true-positive rate", width=660, height=480,
                      legend=_LEGEND, updatemenus=_dropdown([c.replace("_", " ") for c in roc], groups, len(fig.data)))
    return fig


def score_figure(scores: Mapping, labels: Mapping[str, tuple[str, str]], log: bool = True) -> go.Figure:
    """Fig. 4b: discriminator-score densities of both samples, per (comparison, layer) in a dropdown."""
    fig, groups, names, titles = go.Figure(), [], [], []
    for comp, layers in scores.items():
        a_name, b_name = labels.get(comp, ("a", "b"))
        for layer, h in layers.items():
            fig.add_trace(_step(h["edges"], h["a"], a_name, SAMPLE_COLORS.get(a_name, "#1f77b4")))
            fig.add_trace(_step(h["edges"], h["b"], b_name, SAMPLE_COLORS.get(b_name, "#222")))
            groups.append([len(fig.data) - 2, len(fig.data) - 1])
            names.append(f"{comp.replace('_vs_', ' vs ')} · {layer}")
            titles.append(f"{comp.replace('_', ' ')}: {LAYER_LABELS.get(layer, layer)} (overlap {h['overlap']:.2f})")
    for t, trace in enumerate(fig.data):
        trace.visible = t in groups[0]
    fig.update_layout(xaxis_title="discriminator score s = P(target | x)", yaxis_title="density",
                      yaxis_type="log" if log else "linear", height=440, title=titles[0],
                      legend=_LEGEND, updatemenus=_dropdown(names, groups, len(fig.data), titles))
    return fig


def observable_figure(hists: Mapping, closure: Mapping[str, Mapping[str, float]] | None = None,
                      samples: Sequence[str] = ("source", "calibrated", "vertical")) -> go.Figure:
    """Fig. 5/10/11: output observables, source/calibrated/vertical vs target, with a ratio panel."""
    fig = make_subplots(2, 1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.03)
    groups, titles = [], []
    for obs, h in hists.items():
        idx, edges = [], np.asarray(h["edges"])
        t, te = np.asarray(h["target"]["density"]), np.asarray(h["target"]["error"])
        safe = np.where(t > 0, t, np.nan)
        fig.add_trace(go.Scatter(x=(edges[1:] + edges[:-1]) / 2, y=t, error_y={"array": te.tolist(), "width": 0},
                                 mode="markers", marker={"color": COLORS["target"], "size": 4}, name="target"), 1, 1)
        fig.add_trace(_step(edges, (1 + te / safe).tolist(), "target stat.", "#bbb", show=False), 2, 1)
        fig.add_trace(_step(edges, (1 - te / safe).tolist(), "target stat.", "#bbb", show=False), 2, 1)
        idx += [len(fig.data) - 3, len(fig.data) - 2, len(fig.data) - 1]
        for name in samples:
            if name in h:
                color = SAMPLE_COLORS.get(name, "#888")
                d = np.asarray(h[name]["density"])
                fig.add_trace(_step(edges, d.tolist(), name, color), 1, 1)
                fig.add_trace(_step(edges, (d / safe).tolist(), name, color, show=False), 2, 1)
                idx += [len(fig.data) - 2, len(fig.data) - 1]
        groups.append(idx)
        c = (closure or {}).get(obs, {})
        titles.append(obs + ("<br><sup>W1 to target: " + ", ".join(f"{s} {c[f'w1_{s}']:.3g}" for s in samples if f"w1_{s}" in c)
                             + (f", null {c['w1_null']:.3g}" if "w1_null" in c else "") + "</sup>" if c else ""))
    for t, trace in enumerate(fig.data):
        trace.visible = t in groups[0]
    fig.update_yaxes(title_text="density", row=1, col=1)
    fig.update_yaxes(title_text="ratio to target", range=[0.5, 1.5], row=2, col=1)
    fig.update_layout(width=720, height=560, title=titles[0], legend=_LEGEND, updatemenus=_dropdown(list(hists), groups, len(fig.data), titles))
    return fig


def weights_figure(weights_hist: Mapping[str, Mapping[str, list]]) -> go.Figure:
    """Distribution of log10 of the vertical weights, for weights from each layer's discriminator."""
    fig = go.Figure()
    for layer, h in weights_hist.items():
        counts = np.asarray(h["counts"], float)
        fig.add_trace(_step(h["edges_log10"], (counts / max(counts.sum(), 1)).tolist(), f"weights from {LAYER_LABELS.get(layer, layer)}",
                            {"z128": "#1f77b4", "penultimate": "#ff7f0e", "logits": "#2ca02c"}.get(layer, "#888")))
    fig.update_layout(xaxis_title="log10 w (mean-1 weights of held-out source jets)", yaxis_title="fraction of jets",
                      yaxis_type="log", width=640, height=420)
    return fig


def scan_figure(points: Sequence[Mapping], observables: Sequence[str]) -> go.Figure:
    """ESS fraction, and W1 to the target of vertical vs horizontal, against the IP smearing strength."""
    x = [p["strength"] for p in points]
    fig = make_subplots(1, 2, subplot_titles=("vertical: effective sample size", "closure: W1 to the target"))
    fig.add_trace(go.Scatter(x=x, y=[p["ess_fraction"] for p in points], mode="lines+markers", name="ESS / N (vertical)",
                             line={"color": "#17becf"}), 1, 1)
    groups = []
    for obs in observables:
        idx = []
        for name, key in (("source", "w1_source"), ("vertical", "w1_vertical"), ("horizontal", "w1_horizontal"),
                          ("null", "w1_null")):
            fig.add_trace(go.Scatter(x=x, y=[p["closure"][obs][key] for p in points], mode="lines+markers", name=name,
                                     line={"color": SAMPLE_COLORS.get(name, "#999"), "dash": "dot" if name == "null" else None}), 1, 2)
            idx.append(len(fig.data) - 1)
        groups.append([0] + idx)
    for t, trace in enumerate(fig.data):
        trace.visible = t in groups[0]
    fig.update_xaxes(title_text="IP smearing strength")
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_yaxes(type="log", row=1, col=2)
    fig.update_layout(height=420, legend=_LEGEND, updatemenus=_dropdown(list(observables), groups, len(fig.data)))
    return fig


def scan_hist_figure(scan_figs: Mapping[str, Mapping], strengths: Mapping[str, float], obs: str = "log_pHbb_pQCD",
                     samples: Sequence[str] = ("source", "horizontal", "vertical")) -> go.Figure:
    """One observable against each weaker target, with a slider over the smearing strength."""
    fig, groups, labels = go.Figure(), [], []
    for variation, hists in scan_figs.items():
        h, idx = hists[obs], []
        fig.add_trace(_step(h["edges"], h["target"]["density"], "target", COLORS["target"]))
        idx.append(len(fig.data) - 1)
        for name in samples:
            fig.add_trace(_step(h["edges"], h[name]["density"], name, SAMPLE_COLORS.get(name, "#888")))
            idx.append(len(fig.data) - 1)
        groups.append(idx)
        labels.append(f"{strengths[variation]:.0%}")
    for t, trace in enumerate(fig.data):
        trace.visible = t in groups[0]
    steps = []
    for label, idx in zip(labels, groups):
        vis = [t in idx for t in range(len(fig.data))]
        steps.append({"label": label, "method": "update", "args": [{"visible": vis}, {"title.text": f"{obs}, IP smearing {label}"}]})
    fig.update_layout(sliders=[{"steps": steps, "currentvalue": {"prefix": "IP smearing: "}, "pad": {"t": 40}}],
                      title=f"{obs}, IP smearing {labels[0]}", xaxis_title=obs, yaxis_title="density", width=680, height=480)
    return fig


def post_activation_figure(rows: Mapping[str, Mapping[str, Mapping[str, float]]]) -> go.Figure:
    """Calibrated-vs-target AUC per layer for the z128 map and the z128_post map, with errors."""
    fig = go.Figure()
    for name, row in rows.items():
        layers = list(row)
        fig.add_trace(go.Bar(x=[LAYER_LABELS.get(l, l) for l in layers], y=[row[l]["value"] for l in layers],
                             error_y={"array": [row[l]["err"] for l in layers]}, name=name))
    fig.add_hline(y=0.5, line_dash="dot", line_color="#999")
    fig.update_layout(barmode="group", yaxis_title="calibrated vs target AUC", yaxis_range=[0.4, 1.0],
                      width=720, height=460, legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"})
    return fig

"""Plotly figures of the evaluation chapters, built from the stored figure data (no recomputation).

Where a knob matters (which observable, which comparison, which layer) the figure carries every
precomputed variant behind a dropdown, so the static book keeps the interactivity.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..claims import PAPER_AUC
from .style import COLORS

__all__ = ["auc_table_markdown", "corner_figure", "roc_figure", "score_figure", "observable_figure",
           "weights_figure", "scan_figure", "scan_hist_figure", "post_activation_figure", "gap_curve_figure", "layer_label"]

SAMPLE_COLORS = {**COLORS, "vertical_logits": "#9467bd", "horizontal": COLORS["calibrated"]}
LAYER_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd")


def layer_label(layer: str) -> str:
    """``z128_post`` -> "z128 (post-GELU)"; other names as they are."""
    return f"{layer[:-5]} (post-GELU)" if layer.endswith("_post") else layer


def auc_table_markdown(auc: Mapping[str, Mapping[str, Mapping[str, float]]], paper: Mapping = PAPER_AUC) -> str:
    """Markdown table: our AUC ± DeLong error (and the spread over folds) beside the paper's statement.

    The paper's entries are keyed ``z`` for the first head layer, whatever its name here.
    """
    layers = list(next(iter(auc.values())))
    head = "| comparison | " + " | ".join(f"{layer_label(l)} (ours) | paper" for l in layers) + " |"
    lines = [head, "|" + "---|" * (1 + 2 * len(layers))]
    for comp, row in auc.items():
        cells = []
        for i, l in enumerate(layers):
            said = paper.get(comp, {}).get("z" if i == 0 else l, "—")
            spread = f" (folds ± {row[l]['fold_spread']:.3f})" if "fold_spread" in row[l] else ""
            cells.append(f"{row[l]['value']:.3f} ± {row[l]['err']:.3f}{spread} | {said}")
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
                      title="Leading principal components of the target's latent")
    return fig


def roc_figure(roc: Mapping[str, Mapping[str, Mapping[str, list]]]) -> go.Figure:
    """Fig. 4a / 9: ROC curves of the discriminators, one dropdown entry per comparison."""
    fig, groups, colors = go.Figure(), [], ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"]
    for comp, layers in roc.items():
        idx = []
        for c, (layer, pts) in enumerate(layers.items()):
            fig.add_trace(go.Scatter(x=pts["fpr"], y=pts["tpr"], name=layer_label(layer),
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
            titles.append(f"{comp.replace('_', ' ')}: {layer_label(layer)} (overlap {h['overlap']:.2f})")
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
        titles.append(obs + ("<br><sup>W1 excess over the floor: " + ", ".join(
            f"{s} {c[f'w1_excess_{s}']:.3g}" for s in samples if f"w1_excess_{s}" in c)
            + (f" (floor {c['w1_null']:.3g})" if "w1_null" in c else "") + "</sup>" if c else ""))
    for t, trace in enumerate(fig.data):
        trace.visible = t in groups[0]
    fig.update_yaxes(title_text="density", row=1, col=1)
    fig.update_yaxes(title_text="ratio to target", range=[0.5, 1.5], row=2, col=1)
    fig.update_layout(width=720, height=560, title=titles[0], legend=_LEGEND, updatemenus=_dropdown(list(hists), groups, len(fig.data), titles))
    return fig


def weights_figure(weights_hist: Mapping[str, Mapping[str, list]]) -> go.Figure:
    """Distribution of log10 of the vertical weights, for weights from each layer's discriminator."""
    fig = go.Figure()
    for i, (layer, h) in enumerate(weights_hist.items()):
        counts = np.asarray(h["counts"], float)
        fig.add_trace(_step(h["edges_log10"], (counts / max(counts.sum(), 1)).tolist(), f"weights from {layer_label(layer)}",
                            LAYER_COLORS[i % len(LAYER_COLORS)]))
    fig.update_layout(xaxis_title="log10 w (mean-1 out-of-fold weights of the source's eval jets)", yaxis_title="fraction of jets",
                      yaxis_type="log", width=640, height=420)
    return fig


def scan_figure(points: Sequence[Mapping], observables: Sequence[str]) -> go.Figure:
    """ESS fraction, and the W1 excess over the floor of vertical vs horizontal, against the d0 smearing strength."""
    x = [p["strength"] for p in points]
    fig = make_subplots(1, 2, subplot_titles=("vertical: effective sample size", "closure: W1 excess over the floor"))
    fig.add_trace(go.Scatter(x=x, y=[p["ess_fraction"] for p in points], mode="lines+markers", name="ESS / N (vertical)",
                             line={"color": "#17becf"}), 1, 1)
    groups = []
    for obs in observables:
        idx = []
        for name, key in (("source", "source"), ("vertical", "vertical"), ("horizontal", "calibrated")):
            c = [p["closure"][obs] for p in points]
            fig.add_trace(go.Scatter(x=x, y=[max(v[f"w1_excess_{key}"], 1e-4) for v in c], mode="lines+markers", name=name,
                                     error_y={"array": [v[f"w1_excess_{key}_err"] for v in c], "width": 0},
                                     line={"color": SAMPLE_COLORS.get(name, "#999")}), 1, 2)
            idx.append(len(fig.data) - 1)
        groups.append([0] + idx)
    for t, trace in enumerate(fig.data):
        trace.visible = t in groups[0]
    fig.update_xaxes(title_text="d0 smearing strength")
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_yaxes(type="log", row=1, col=2)
    fig.update_layout(height=420, legend=_LEGEND, updatemenus=_dropdown(list(observables), groups, len(fig.data)))
    return fig


def scan_hist_figure(scan_figs: Mapping[str, Mapping], strengths: Mapping[str, float], obs: str = "log_pHbb_pQCD",
                     samples: Sequence[str] = ("source", "calibrated", "vertical")) -> go.Figure:
    """One observable against each weaker target, with a slider over the smearing strength."""
    fig, groups, labels = go.Figure(), [], []
    for variation, hists in scan_figs.items():
        h, idx = hists[obs], []
        fig.add_trace(_step(h["edges"], h["target"]["density"], "target", COLORS["target"]))
        idx.append(len(fig.data) - 1)
        for name in samples:
            label = "horizontal" if name == "calibrated" else name
            fig.add_trace(_step(h["edges"], h[name]["density"], label, SAMPLE_COLORS.get(label, "#888")))
            idx.append(len(fig.data) - 1)
        groups.append(idx)
        labels.append(f"{strengths[variation]:.0%}")
    for t, trace in enumerate(fig.data):
        trace.visible = t in groups[0]
    steps = []
    for label, idx in zip(labels, groups):
        vis = [t in idx for t in range(len(fig.data))]
        steps.append({"label": label, "method": "update", "args": [{"visible": vis}, {"title.text": f"{obs}, d0 smearing {label}"}]})
    fig.update_layout(sliders=[{"steps": steps, "currentvalue": {"prefix": "d0 smearing: "}, "pad": {"t": 40}}],
                      title=f"{obs}, d0 smearing {labels[0]}", xaxis_title=obs, yaxis_title="density", width=680, height=480)
    return fig


def post_activation_figure(rows: Mapping[str, Mapping[str, Mapping[str, float]]]) -> go.Figure:
    """Calibrated-vs-target AUC per layer for the pre-GELU map and the post-GELU map, with errors."""
    fig = go.Figure()
    for name, row in rows.items():
        layers = list(row)
        fig.add_trace(go.Bar(x=[layer_label(l) for l in layers], y=[row[l]["value"] for l in layers],
                             error_y={"array": [row[l]["err"] for l in layers]}, name=name))
    fig.add_hline(y=0.5, line_dash="dot", line_color="#999")
    fig.update_layout(barmode="group", yaxis_title="calibrated vs target AUC", yaxis_range=[0.4, 1.0],
                      width=720, height=460, legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"})
    return fig


def gap_curve_figure(points: Sequence[Mapping[str, float]], eval_auc: Mapping[str, float] | None = None,
                     layer: str = "z128") -> go.Figure:
    """The source-vs-target AUC against the discriminator's jets per side (log x), with DeLong errors;
    `eval_auc` (n: jets per side, value, err) marks the closure table's number on the eval rows."""
    n = [p["jets_per_side"] for p in points]
    fig = go.Figure(go.Scatter(x=n, y=[p["auc"] for p in points], mode="lines+markers", name="all calibration rows",
                               error_y={"type": "data", "array": [p["err"] for p in points]},
                               line={"color": COLORS["source"]}))
    if eval_auc is not None:
        fig.add_trace(go.Scatter(x=[eval_auc["n"]], y=[eval_auc["value"]], mode="markers", name="closure table (eval rows)",
                                 marker={"symbol": "diamond", "size": 11, "color": COLORS["calibrated"]},
                                 error_y={"type": "data", "array": [eval_auc["err"]]}))
    fig.update_layout(xaxis={"type": "log", "title": "jets per side the cross-fitted discriminator sees"},
                      yaxis_title=f"source vs target AUC at {layer_label(layer)}", width=660, height=420,
                      legend=_LEGEND)
    return fig

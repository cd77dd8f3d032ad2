"""Figures and tables of chapter 06 (beyond the paper), from the stored study (no recomputation).

Where a knob matters (which layer or LLR, which variation map) every precomputed variant sits
behind a dropdown or a slider, so the static book keeps the interactivity.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from .evaluation import SAMPLE_COLORS, _LEGEND, _dropdown, _step, layer_label

__all__ = ["BINNED_COLORS", "bin_labels", "binned_figure", "band_figure", "variation_figure", "methods_figure",
           "methods_table_markdown", "scale_factor_markdown", "llr_compare_figure"]

BINNED_COLORS = {"identity": SAMPLE_COLORS["source"], "unconditional": SAMPLE_COLORS["calibrated"],
                 "conditional": "#ff7f0e"}
METHOD_COLORS = ("#1f77b4", "#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#2ca02c", "#17becf", "#7f7f7f")


def bin_labels(bins: Sequence[Mapping]) -> list[str]:
    """``< 553``, ``553–637``, ``> 637``: the pT bins (GeV) with their open outer edges."""
    def open_(v: float | None) -> bool:  # JSON stores the open outer edges (±inf) as null
        return v is None or not np.isfinite(v)

    out = []
    for b in bins:
        lo, hi = b["low"], b["high"]
        out.append(f"< {hi:.0f}" if open_(lo) else f"> {lo:.0f}" if open_(hi) else f"{lo:.0f}–{hi:.0f}")
    return out


def binned_figure(section: Mapping[str, Any], title: str) -> go.Figure:
    """Per pT bin: the AUC of each layer's discriminator and the W1 excess of each LLR, for every sample
    (identity, unconditional, conditional); one dropdown entry per layer or LLR."""
    bins = section["bins"]
    labels, names = bin_labels(bins), list(bins[0]["samples"])
    layers, llrs = list(bins[0]["samples"][names[0]]["auc"]), list(bins[0]["samples"][names[0]]["w1_excess"])
    fig, groups, views, titles = go.Figure(), [], [], []
    for layer in layers:
        idx = []
        for n in names:
            a = [b["samples"][n]["auc"][layer] for b in bins]
            fig.add_trace(go.Scatter(x=labels, y=[v["value"] for v in a], error_y={"array": [v["err"] for v in a]},
                                     mode="lines+markers", name=n, line={"color": BINNED_COLORS.get(n, "#888")}))
            idx.append(len(fig.data) - 1)
        groups.append(idx)
        views.append(f"AUC {layer_label(layer)}")
        titles.append(f"{title}: discriminator AUC in {layer_label(layer)} vs target (0.5 = closed)")
    for llr in llrs:
        idx = []
        for n in names:
            fig.add_trace(go.Scatter(x=labels, y=[b["samples"][n]["w1_excess"][llr] for b in bins],
                                     error_y={"array": [b["samples"][n]["w1_excess_err"][llr] for b in bins]},
                                     mode="lines+markers", name=n, line={"color": BINNED_COLORS.get(n, "#888")}))
            idx.append(len(fig.data) - 1)
        groups.append(idx)
        views.append(f"W1 {llr}")
        titles.append(f"{title}: W1 excess over the floor of {llr}")
    for t, trace in enumerate(fig.data):
        trace.visible = t in groups[0]
    fig.update_layout(title=titles[0], xaxis_title="jet pT bin [GeV] (target quantiles)", height=440, width=720,
                      legend=_LEGEND, updatemenus=_dropdown(views, groups, len(fig.data), titles))
    return fig


def band_figure(bands: Mapping[str, Mapping[str, Any]], label: str) -> go.Figure:
    """The calibrated LLR density with its band (``label``) and the target; one dropdown entry per LLR."""
    fig, groups = go.Figure(), []
    for llr, b in bands.items():
        edges = np.asarray(b["edges"])
        x = (edges[1:] + edges[:-1]) / 2
        lo, hi = list(b["lower"]) + [b["lower"][-1]], list(b["upper"]) + [b["upper"][-1]]
        fig.add_trace(go.Scatter(x=list(edges), y=lo, line={"shape": "hv", "width": 0}, showlegend=False,
                                 hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=list(edges), y=hi, line={"shape": "hv", "width": 0}, fill="tonexty",
                                 fillcolor="rgba(214,39,40,0.25)", name=label))
        fig.add_trace(_step(edges, b["nominal"], "calibrated (nominal map)", SAMPLE_COLORS["calibrated"]))
        fig.add_trace(go.Scatter(x=x, y=b["target"], mode="markers", marker={"color": SAMPLE_COLORS["target"], "size": 5},
                                 name="target"))
        groups.append(list(range(len(fig.data) - 4, len(fig.data))))
    for t, trace in enumerate(fig.data):
        trace.visible = t in groups[0]
    fig.update_layout(xaxis_title="LLR", yaxis_title="density", height=440, width=720, legend=_LEGEND,
                      title=f"{next(iter(bands))}: {label}",
                      updatemenus=_dropdown(list(bands), groups, len(fig.data), [f"{k}: {label}" for k in bands]))
    return fig


def variation_figure(bands: Mapping[str, Mapping[str, Any]], llr: str = "log_pHbb_pQCD",
                     extra: Mapping[str, Mapping[str, Any]] | None = None) -> go.Figure:
    """The static stand-in of the live control: a slider over the precomputed maps (nominal, each
    variation, each bootstrap refit) drawing that map's calibrated `llr` against the target."""
    b = bands[llr]
    edges = np.asarray(b["edges"])
    variants = {"nominal map": b["nominal"], **{f"map to {k}": v for k, v in b["variants"].items()}}
    for name, other in (extra or {}).items():
        variants |= {f"{name} {k}": v for k, v in other[llr]["variants"].items()}
    fig = go.Figure([go.Scatter(x=(edges[1:] + edges[:-1]) / 2, y=b["target"], mode="markers", name="target",
                                marker={"color": SAMPLE_COLORS["target"], "size": 5})])
    for k, (name, dens) in enumerate(variants.items()):
        fig.add_trace(_step(edges, dens, name, SAMPLE_COLORS["calibrated"]))
        fig.data[-1].visible = k == 0
    steps = [{"label": name, "method": "update",
              "args": [{"visible": [True] + [j == k for j in range(len(variants))]}, {"title.text": f"{llr}: {name}"}]}
             for k, name in enumerate(variants)]
    fig.update_layout(title=f"{llr}: nominal map", xaxis_title=llr, yaxis_title="density", height=460, width=720,
                      legend=_LEGEND, sliders=[{"active": 0, "steps": steps, "currentvalue": {"prefix": "map: "},
                                                "pad": {"t": 50}}])
    return fig


def methods_figure(table: Mapping[str, Mapping[str, Any]], layer: str, llr: str = "log_pHbb_pQCD") -> go.Figure:
    """Each method as a point: discriminator AUC in `layer` (x) against the W1 excess of `llr` (y)."""
    fig = go.Figure()
    for i, (name, row) in enumerate(table.items()):
        if layer not in row["auc"]:
            continue
        a = row["auc"][layer]
        fig.add_trace(go.Scatter(x=[a["value"]], y=[row["w1_excess"][llr]], error_x={"array": [a["err"]]},
                                 mode="markers+text", text=[name], textposition="top center", name=name,
                                 marker={"size": 11, "color": METHOD_COLORS[i % len(METHOD_COLORS)]}))
    fig.add_vline(x=0.5, line={"dash": "dot", "color": "#999"})
    fig.update_layout(xaxis_title=f"AUC calibrated vs target in {layer_label(layer)} (0.5 = closed)",
                      yaxis_title=f"W1 excess of {llr}", height=480, width=720, legend=_LEGEND,
                      title="Every method on the same jets: closure in the tagger and in its output")
    return fig


def methods_table_markdown(table: Mapping[str, Mapping[str, Any]], details: Mapping[str, Any],
                           layers: Sequence[str]) -> str:
    """The methods table: AUC per layer, W1 excess per LLR, ESS, transport cost, time."""
    llrs = list(next(iter(table.values()))["w1_excess"])
    head = ("| method | " + " | ".join(f"AUC {layer_label(l)}" for l in layers) + " | "
            + " | ".join(f"W1 exc. {k.removeprefix('log_')}" for k in llrs) + " | ESS | cost | time [s] |")
    lines = [head, "|" + "---|" * (4 + len(layers) + len(llrs))]
    for name, row in table.items():
        auc = [f"{row['auc'][k]['value']:.3f} ± {row['auc'][k]['err']:.3f}" if k in row["auc"] else "—"
               for k in layers]
        cost = details["cost"][name]
        cost_s = "—" if cost["value"] is None else f"{cost['value']:.2f} ({cost['layer']})"
        ess = "—" if row["ess"] is None else f"{row['ess']:.2f}"
        lines.append(f"| {name} | " + " | ".join(auc) + " | " + " | ".join(f"{row['w1_excess'][k]:.4f}" for k in llrs)
                     + f" | {ess} | {cost_s} | {row['time_s']:.1f} |")
    return "\n".join(lines)


def scale_factor_markdown(rows: Sequence[Mapping[str, float]], raw: Sequence[Mapping[str, float]] | None = None) -> str:
    """The scale-factor table: cut, efficiencies, SF ± stat ± syst (variations, bootstrap)."""
    lines = ["| target eff. | cut on log pHbb/pQCD | ε target | ε calibrated | SF ± stat ± syst | syst: variations "
             "| syst: bootstrap | SF uncalibrated |", "|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(rows):
        unc = f"{raw[i]['sf']:.3f} ± {raw[i]['sf_stat']:.3f}" if raw else "—"
        lines.append(f"| {r['efficiency']:.0%} | {r['cut']:.2f} | {r['eff_target']:.3f} ± {r['eff_target_err']:.3f} "
                     f"| {r['eff_calibrated']:.3f} ± {r['eff_calibrated_err']:.3f} "
                     f"| {r['sf']:.3f} ± {r['sf_stat']:.3f} ± {r['sf_syst']:.3f} | {r['sf_syst_variations']:.3f} "
                     f"| {r['sf_syst_bootstrap']:.3f} | {unc} |")
    return "\n".join(lines)


def llr_compare_figure(edges: np.ndarray, densities: Mapping[str, np.ndarray], target: np.ndarray,
                       title: str) -> go.Figure:
    """One LLR: target points and any number of calibrated densities (the live control's redraw)."""
    fig = go.Figure([go.Scatter(x=(edges[1:] + edges[:-1]) / 2, y=target, mode="markers", name="target",
                                marker={"color": SAMPLE_COLORS["target"], "size": 5})])
    for i, (name, dens) in enumerate(densities.items()):
        fig.add_trace(_step(edges, dens, name, SAMPLE_COLORS.get(name, METHOD_COLORS[i % len(METHOD_COLORS)])))
    fig.update_layout(title=title, yaxis_title="density", height=420, width=720, legend=_LEGEND)
    return fig

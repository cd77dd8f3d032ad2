# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 7. How many dimensions does the latent really use?
#
# Chapter 03 found that the tagger's first head layer fills only about half of its 128 principal
# directions above $10^{-5}$ of the largest variance: a *linear* count, at one scale. J. Collins ("The learnt
# geometry of collider events", 2021) measures how many dimensions a sample really spreads in, *as a function
# of scale*, with the **correlation dimension**
#
# $$ \dim(Q) = Q\,\frac{\partial}{\partial Q}\,\ln C(Q), \qquad C(Q) = \frac{2}{N(N-1)}\sum_{i<j}\Theta\big(d(x_i, x_j) < Q\big): $$
#
# the fraction of pairs closer than $Q$ grows like $Q^{d}$ on a $d$-dimensional set, so the log-log slope
# counts the directions that matter at that scale. Applied to the calibration, it asks: does the map keep
# the latent's dimensionality at every scale, and how does the latent compare with the jets themselves,
# measured with the **energy mover's distance** (EMD) between their pT-weighted constituents?
#
# How it is estimated (`mindgap_lib.geometry`): the slope is a symmetric difference over a fixed window in
# $\ln Q$ (±0.15); the error is the U-statistic variance over *points* (pairs share points, so treating pairs
# as independent would understate it), with a bootstrap over points beside it; the EMD is exact (POT), with
# normalised pT weights and ΔR/R as ground distance, and Sinkhorn is compared with it below. Every latent is
# an eval row: jets no map was fitted on.

# %% tags=["parameters"]
profile = "cpu"
device = "cpu"
build_dir = "build"

# %%
import numpy as np
import plotly.graph_objects as go
from IPython.display import Markdown, display
from plotly.subplots import make_subplots

from mindgap_lib.build import Build
from mindgap_lib.plots.datasets import CLASS_COLORS
from mindgap_lib.plots.geometry import dimension_band as band
from mindgap_lib.plots.style import COLORS, setup_plotly

setup_plotly()
build = Build(profile, build_dir, device)
study = build.ensure("geometry").study()
cfg = build.profile.geometry


# %% [markdown]
# ## The latent: source, target and calibrated
#
# All three on one grid of scales, read off the target's pair distances (from its $10^{-3}$ to its 0.5
# quantile). If the map keeps the latent's geometry, the calibrated curve sits on the target's at every
# scale.

# %%
fig = make_subplots(rows=1, cols=2, subplot_titles=("correlation dimension dim(Q)", "C(Q): fraction of pairs closer than Q"))
for name in ("source", "target", "calibrated"):
    cd = study["latents"][name]
    band(fig, cd, name, COLORS[name])
    fig.add_trace(go.Scatter(x=cd["q"], y=cd["c"], name=name, line=dict(color=COLORS[name]), showlegend=False), row=1, col=2)
fig.update_xaxes(type="log", title_text="Q (latent distance)")
fig.update_yaxes(type="log", row=1, col=2)
fig.update_yaxes(title_text="dim(Q)", row=1, col=1)
fig.update_layout(height=430)
fig.show()
summary = study["correlation_dimension"]
rows = ["| sample | " + " | ".join(f"dim at the {k[1:]} quantile" for k in summary["target"]) + " |",
        "|---|" + "---|" * len(summary["target"])]
for name, cells in summary.items():
    rows.append(f"| {name} | " + " | ".join(f"{c['dim']:.2f} ± {c['err']:.2f}" if c["dim"] is not None else "n/a"
                                            for c in cells.values()) + " |")
display(Markdown("\n".join(rows)))

# %% [markdown]
# At small $Q$ the count is that of the local noise of the latent; at large $Q$ it falls, as it must for any
# bounded set. The linear count of chapter 03 (about half of 128) is an upper bound that no scale reaches:
# the tagger's representation of QCD jets is far thinner than its width.

# %% [markdown]
# ## Per class: does the tagger give each class its own dimension?
#
# The same measure on the tagger's test jets of a few classes (the collider-events study found, for a
# VAE, that W jets sit at a different dimension than QCD).

# %%
fig = go.Figure()
for name, cd in study["classes"].items():
    band(fig, cd, name, CLASS_COLORS.get(name, "#888"))
fig.update_xaxes(type="log", title_text="Q (latent distance)")
fig.update_yaxes(title_text="dim(Q)")
fig.update_layout(height=400, title="latent dim(Q) per class (tagger test jets)")
fig.show()

# %% [markdown]
# ## The jets themselves, in EMD space
#
# The EMD between two jets is the least pT-weighted distance (ΔR/R) their constituents must be moved to
# turn one into the other. The same dim(Q), now on an exact EMD matrix: QCD calibration jets, and the
# training jets of the same classes.

# %%
fig = go.Figure()
band(fig, study["jets"], "QCD (calibration)", COLORS["source"])
for name, cd in study["class_jets"].items():
    band(fig, cd, name, CLASS_COLORS.get(name, "#888"), dash="dot")
fig.update_xaxes(type="log", title_text="Q (EMD, normalised pT weights)")
fig.update_yaxes(title_text="dim(Q)")
fig.update_layout(height=400, title=f"jets in EMD space (median EMD {study['emd_median']:.3f})")
fig.show()

# %% [markdown]
# **Sinkhorn against the exact EMD.** Entropic regularisation (strength ε) makes optimal transport fast on a
# GPU and differentiable; on a CPU and for jets of a few dozen constituents the exact solver is faster still.
# The table gives Sinkhorn's mean relative error and its cost per pair against the exact value.

# %%
sk = study["sinkhorn"]
rows = ["| ε | mean abs. relative error | ms per pair | unconverged pairs |", "|---|---|---|---|"]
rows += [f"| {e:g} | {r:.2%} | {1e3 * t:.1f} | {u} |" for e, r, t, u in
         zip(sk["eps"], sk["mean_abs_rel_error"], sk["seconds_sinkhorn"], sk["n_unconverged"])]
rows.append(f"| exact (POT emd2) | — | {1e3 * sk['seconds_exact']:.2f} | — |")
display(Markdown("\n".join(rows)))

# %% [markdown]
# ## A link to the transport
#
# For each source jet, the local (Levina–Bickel, k nearest neighbours) dimension of its latent, the distance
# the map moves it, $\lVert T(z) - z\rVert$, and how much the cross-fitted calibrated-vs-target discriminator
# still tells the calibrated jet from the target, $|\log p_\mathrm{target}/p_\mathrm{calibrated}|$ (0 where it
# closes). Is the residual the discriminator finds concentrated where the latent is thin?

# %%
link = study["link"]
centres = np.asarray(link["local_dim_mean"], float)
fig = make_subplots(rows=1, cols=2, subplot_titles=("displacement ‖T(z) − z‖", "residual |log p_t / p_cal|"))
fig.add_trace(go.Scatter(x=centres, y=link["displacement_mean"], error_y=dict(array=link["displacement_err"]),
                         mode="lines+markers", name="displacement", line=dict(color=COLORS["calibrated"])), row=1, col=1)
if link.get("residual_mean") is not None:
    fig.add_trace(go.Scatter(x=centres, y=link["residual_mean"], error_y=dict(array=link["residual_err"]),
                             mode="lines+markers", name="residual", line=dict(color=COLORS["target"])), row=1, col=2)
fig.update_xaxes(title_text=f"local dimension (k = {cfg.local_k})")
fig.update_layout(height=400, showlegend=False)
fig.show()
display(Markdown(f"Spearman correlation with the local dimension: displacement {link['spearman_displacement']:+.3f}, "
                 f"residual {link.get('spearman_residual') if link.get('spearman_residual') is None else format(link['spearman_residual'], '+.3f')}; "
                 f"overall local dimension {link['local']['global_dim']:.1f} ± {link['local']['global_err']:.1f}."))

# %%
build.save_numbers("07_geometry", {"correlation_dimension": study["correlation_dimension"],
                                   "sinkhorn_mean_abs_rel_error": dict(zip(map(str, sk["eps"]), sk["mean_abs_rel_error"])),
                                   "spearman_displacement": link["spearman_displacement"],
                                   "spearman_residual": link.get("spearman_residual")})

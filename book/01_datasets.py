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
# # 1. Datasets: a source, a target, and the knobs between them
#
# The paper studies a *mis-specified* simulation. Its jets come from JetClass (Pythia 8 + Delphes, anti-kT
# R = 0.8, 500 < pT < 1000 GeV, |η| < 2, ten classes). A **source** sample of QCD jets uses the standard
# JetClass configuration (our stand-in for "Monte Carlo"); a **target** sample (our stand-in for "data")
# differs in two ways:
#
# * the impact parameters of charged particles are additionally smeared by **10–30 %** (a detector /
#   reconstruction mismodelling, after ATLAS-CONF-2018-006), and
# * the renormalisation and factorisation scales of the QCD events are doubled, **μR, μF: 1 → 2** (a
#   physics mismodelling).
#
# JetClass cannot be downloaded here, so this book makes its own jets with the same recipe: Pythia 8
# (Monash tune, MPI on) for the ten JetClass processes, fastjet anti-kT R = 0.8, and a parametric CMS-like
# detector in the spirit of the Delphes card (tracking efficiency, track-pT and calorimeter resolutions,
# particle-ID flags, and impact parameters computed from each charged particle's *true* production vertex,
# then smeared with the card's σ(d0), σ(dz) tables). Files are written in the exact JetClass ROOT layout,
# so the same code reads real JetClass files.
#
# This chapter shows the paper's Fig. 1 (charged-track d0 and jet constituent multiplicity, source vs
# target), the feature distributions of all ten classes (the paper's appendix C), and the effect of each
# knob of the generator. Change the knobs yourself at the end: with live sliders in a running kernel, or
# with the slider figure in the static book.

# %% tags=["parameters"]
profile = "cpu"        # tiny | cpu | paper (or a TOML path): sizes of every stage
device = "cpu"         # unused here (no torch in this chapter); kept so every chapter takes the same knobs
build_dir = "build"    # artifacts under <build_dir>/<profile>/artifacts, numbers under <build_dir>/<profile>/chapters
knob_jets = None       # QCD jets per knob variant (None: [generate].calib_jets // 20, at least 30)
live_jets = 200        # QCD jets regenerated per redraw of the live widget
seed = 1               # seed of the knob variants (shared, so IP-only variants differ by the smearing alone)

# %% tags=["hide-input"]
import numpy as np
import awkward as ak
import plotly.graph_objects as go
from IPython.display import Markdown, display
from plotly.subplots import make_subplots

from mindgap_lib.build import pipeline
from mindgap_lib.config import load_profile
from mindgap_lib.generation.dataset import files
from mindgap_lib.jetclass.io import read_jets
from mindgap_lib.plots.style import COLORS, setup_plotly
from mindgap_lib.jetclass.schema import CLASSES
from mindgap_lib.generation.variations import get_variation, ip_worsening

setup_plotly()
CLASS_COLORS = dict(zip(CLASSES, ["#636EFA", "#EF553B", "#00CC96", "#AB63FA", "#FFA15A", "#19D3F3", "#FF6692",
                                  "#B6E880", "#FF97FF", "#FECB52"]))


def density(x, edges):
    """Normalised histogram and its Poisson error (per unit of x); under/overflow folded into the edge bins."""
    x = np.clip(np.asarray(x, dtype=float), edges[0], np.nextafter(edges[-1], edges[0]))
    n, _ = np.histogram(x, edges)
    norm = max(n.sum(), 1) * np.diff(edges)
    return n / norm, np.sqrt(n) / norm


def step(edges, y, name, color, **kw):
    """A histogram drawn as a step line (plotly has no histtype='step')."""
    return go.Scatter(x=edges, y=np.append(y, y[-1]), mode="lines", line=dict(shape="hv", color=color, width=2),
                      name=name, **kw)


def robust_width(x):
    """1.4826 × median absolute deviation: a width that the long b/c-hadron tails barely move."""
    x = np.asarray(x, dtype=float)
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def add_sample(fig, col, edges, values, ref_values, name, color, *, visible=True, showlegend=True):
    """One sample's normalised histogram (top row) and, unless it is the reference, its ratio (bottom row)."""
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


def ratio_layout(columns, ratio_range=(0.0, 2.0), height=520):
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


def compare(columns, samples, ref, colors, **layout):
    """Normalised histograms of every sample per column, with ratios sample / `ref` underneath."""
    fig = ratio_layout(columns, **layout)
    for c, (_label, key, edges, _logy) in enumerate(columns, 1):
        for name, values in samples.items():
            add_sample(fig, c, edges, values[key], samples[ref][key], name, colors[name], showlegend=c == 1)
    return fig


def summary(jets):
    """The per-track and per-jet quantities this chapter plots, as flat numpy arrays."""
    charged = jets["part_charge"] != 0
    d0 = jets["part_d0val"][charged]
    d0err = jets["part_d0err"][charged]
    pt = np.hypot(jets["part_px"], jets["part_py"])
    return {
        "d0": ak.to_numpy(ak.flatten(d0)), "d0sig": ak.to_numpy(ak.flatten(d0 / d0err)),
        "dz": ak.to_numpy(ak.flatten(jets["part_dzval"][charged])),
        "nparticles": ak.to_numpy(jets["jet_nparticles"]), "ncharged": ak.to_numpy(ak.sum(charged, axis=1)),
        "sdmass": ak.to_numpy(jets["jet_sdmass"]), "log_pt": ak.to_numpy(ak.flatten(np.log10(pt))),
    }


# %% [markdown]
# ## The samples of this run
#
# `pipeline.ensure_dataset` generates the profile's dataset once and caches it under
# `build/<profile>/artifacts/` (rerunning this chapter reuses it). `train/nominal` holds jets of all ten
# classes for the tagger; `calib/nominal` (the source) and `calib/target` (the target) hold QCD jets from
# their own seeds, disjoint from the tagger's.

# %%
prof = load_profile(profile)
data = pipeline.ensure_dataset(prof, build_dir, progress=False)
gen = prof["generate"]
print(f"profile {prof['name']!r}: {gen['train_jets_per_class']} training jets per class, "
      f"{gen['calib_jets']} calibration QCD jets per variation {gen['calib_variations']}")
print(f"dataset: {data}")
source = summary(read_jets(files(data, "calib", "nominal", "QCD")))
target = summary(read_jets(files(data, "calib", "target", "QCD")))
print(f"source: {len(source['nparticles'])} jets, {len(source['d0'])} charged tracks; "
      f"target: {len(target['nparticles'])} jets, {len(target['d0'])} charged tracks")

# %% [markdown]
# ## The paper's Fig. 1: source vs target QCD
#
# Left: the transverse impact parameter d0 of charged particles (log scale: light-quark and gluon jets are
# dominated by prompt tracks, with tails from heavy-flavour and τ decays). K⁰s and Λ are left undecayed
# by the generator here (cτ > 10 mm), so the metre-long V⁰ tails of JetClass's d0 are missing. Middle:
# σ(d0). As in Delphes, the target stores the resolution it smeared with, so σ(d0) moves with d0 (the
# variant `target_nominal_errors` keeps nominal errors instead, and only d0/σ widens).
# Right: the number of jet constituents, moved by the scale change.

# %%
d0_max = float(np.quantile(np.abs(source["d0"]), 0.995))
columns = [
    ("charged-track d0 [mm]", "d0", np.linspace(-d0_max, d0_max, 61), True),
    ("d0 / σ(d0)", "d0sig", np.linspace(-12, 12, 61), True),
    ("jet constituents", "nparticles", np.arange(0, max(source["nparticles"].max(), target["nparticles"].max()) + 6, 4.0), False),
]
fig1 = compare(columns, {"source": source, "target": target}, "source", COLORS)
fig1.update_layout(title="Fig. 1 — source (simulation) vs target (pseudo-data), QCD jets")
fig1.show()

# %%
d0_ratio = robust_width(target["d0"]) / robust_width(source["d0"])
sig_ratio = robust_width(target["d0sig"]) / robust_width(source["d0sig"])
numbers = {
    "n_source_jets": int(len(source["nparticles"])), "n_target_jets": int(len(target["nparticles"])),
    "d0_width_source_mm": robust_width(source["d0"]), "d0_width_target_mm": robust_width(target["d0"]),
    "d0_width_ratio": d0_ratio, "d0sig_width_ratio": sig_ratio,
    "nparticles_mean_source": float(source["nparticles"].mean()),
    "nparticles_mean_target": float(target["nparticles"].mean()),
}
print(f"robust d0 width: source {numbers['d0_width_source_mm'] * 1e3:.1f} µm, target "
      f"{numbers['d0_width_target_mm'] * 1e3:.1f} µm (ratio {d0_ratio:.3f}; the configured worsening is 1.10–1.30)")
print(f"mean constituents: source {numbers['nparticles_mean_source']:.1f}, target {numbers['nparticles_mean_target']:.1f}")

# %% [markdown]
# ## How the target's smearing depends on the track
#
# The paper quotes "10–30 %" without a functional form. Ours (`mindgap_lib.generation.variations.Variation`): each
# track's d0 and dz are smeared to a width (1 + f)·σ with
# f(pT, η) = f_min + (f_max − f_min)·g, g = 1 / (1 + (pT / (10 GeV·√cosh η))²).
# g is the multiple-scattering share of the resolution, so soft and forward tracks, where mismodelled
# tracker material matters, get the full 30 %; stiff central tracks, limited by alignment and hit
# resolution, get 10 %.

# %%
target_var = get_variation("target")
pts = np.logspace(-0.5, 2.5, 200)
fig_f = go.Figure()
for eta, dash in ((0.0, "solid"), (1.0, "dash"), (2.0, "dot")):
    f = ip_worsening(pts, np.full_like(pts, eta), target_var.ip_smear_min, target_var.ip_smear_max)
    fig_f.add_trace(go.Scatter(x=pts, y=100 * f, name=f"η = {eta:g}", line=dict(dash=dash, color=COLORS["target"])))
fig_f.update_xaxes(type="log", title_text="track pT [GeV]")
fig_f.update_yaxes(title_text="extra IP smearing f [%]", range=[0, 35])
fig_f.update_layout(title="Target IP worsening f(pT, η)", height=380)
fig_f.show()

# %% [markdown]
# ## All ten classes (the paper's appendix C)
#
# The tagger is trained on nominal jets of the ten JetClass classes. Jet-level features first, then
# particle-level ones. Each curve is normalised to unit area.

# %%
train = {c: read_jets(files(data, "train", "nominal", c)) for c in CLASSES}
tau = {c: (ak.to_numpy(j["jet_tau2"] / j["jet_tau1"]), ak.to_numpy(j["jet_tau3"] / j["jet_tau2"])) for c, j in train.items()}
jet_cols = [("jet pT [GeV]", "jet_pt", np.linspace(450, 1050, 41)), ("jet η", "jet_eta", np.linspace(-2.2, 2.2, 23)),
            ("constituents", "jet_nparticles", np.arange(0, 152, 6.0)), ("soft-drop mass [GeV]", "jet_sdmass", np.linspace(0, 260, 53)),
            ("τ21", "tau21", np.linspace(0, 1, 26)), ("τ32", "tau32", np.linspace(0, 1, 26))]
fig_jets = make_subplots(rows=2, cols=3, vertical_spacing=0.14, horizontal_spacing=0.06)
for i, (label, key, edges) in enumerate(jet_cols):
    r, c = divmod(i, 3)
    for cls, jets in train.items():
        x = tau[cls][0] if key == "tau21" else tau[cls][1] if key == "tau32" else ak.to_numpy(jets[key])
        h, _ = density(x, edges)
        fig_jets.add_trace(step(edges, h, cls, CLASS_COLORS[cls], legendgroup=cls, showlegend=i == 0), row=r + 1, col=c + 1)
    fig_jets.update_xaxes(title_text=label, row=r + 1, col=c + 1)
fig_jets.update_layout(title="Jet features, ten classes (nominal)", height=620)
fig_jets.show()

# %% [markdown]
# The soft-drop mass separates the resonances: W (80 GeV), Z (91 GeV), H (125 GeV) and the top quark
# (173 GeV) peak where they should for the fully hadronic decays, while H→ℓνqq′ and t→bℓν lose the
# neutrino and QCD falls steeply.

# %%
mass_edges = np.linspace(0, 260, 53)
fig_m = go.Figure()
peaks = {}
for cls, jets in train.items():
    m = ak.to_numpy(jets["jet_sdmass"])
    h, _ = density(m, mass_edges)
    fig_m.add_trace(step(mass_edges, h, cls, CLASS_COLORS[cls]))
    peaks[cls] = float(np.median(m[(m > 40)])) if np.any(m > 40) else float("nan")
for mass, label in ((80.4, "W"), (91.2, "Z"), (125.1, "H"), (172.7, "t")):
    fig_m.add_vline(x=mass, line=dict(color="grey", dash="dot", width=1), annotation_text=label)
fig_m.update_xaxes(title_text="soft-drop mass [GeV]")
fig_m.update_yaxes(title_text="normalised")
fig_m.update_layout(title="Soft-drop mass peaks", height=420)
fig_m.show()
print("median soft-drop mass above 40 GeV:", ", ".join(f"{c} {v:.0f}" for c, v in peaks.items()))

# %%
def particle_arrays(jets):
    charged = jets["part_charge"] != 0
    pt = np.hypot(jets["part_px"], jets["part_py"])
    flat = lambda a: ak.to_numpy(ak.flatten(a))  # noqa: E731
    return {"log_pt": flat(np.log10(pt)), "deta": flat(jets["part_deta"]), "dphi": flat(jets["part_dphi"]),
            "d0": flat(jets["part_d0val"][charged]), "dz": flat(jets["part_dzval"][charged]),
            "d0err": flat(jets["part_d0err"][charged])}


parts = {c: particle_arrays(j) for c, j in train.items()}
part_cols = [("log10 particle pT [GeV]", "log_pt", np.linspace(-0.5, 3, 36), False),
             ("Δη to jet axis", "deta", np.linspace(-0.8, 0.8, 33), False),
             ("Δφ to jet axis", "dphi", np.linspace(-0.8, 0.8, 33), False),
             ("charged d0 [mm]", "d0", np.linspace(-1, 1, 41), True),
             ("charged dz [mm]", "dz", np.linspace(-1, 1, 41), True),
             ("σ(d0) [mm]", "d0err", np.linspace(0, 0.1, 26), True)]
fig_parts = make_subplots(rows=2, cols=3, vertical_spacing=0.14, horizontal_spacing=0.06)
for i, (label, key, edges, logy) in enumerate(part_cols):
    r, c = divmod(i, 3)
    for cls in CLASSES:
        h, _ = density(parts[cls][key], edges)
        fig_parts.add_trace(step(edges, h, cls, CLASS_COLORS[cls], legendgroup=cls, showlegend=i == 0), row=r + 1, col=c + 1)
    fig_parts.update_xaxes(title_text=label, row=r + 1, col=c + 1)
    fig_parts.update_yaxes(type="log" if logy else "linear", row=r + 1, col=c + 1)
fig_parts.update_layout(title="Particle features, ten classes (nominal)", height=620)
fig_parts.show()
b_width = robust_width(parts["Hbb"]["d0"]) / robust_width(parts["QCD"]["d0"])
print(f"robust charged-d0 width, H→bb̄ / QCD: {b_width:.2f} (B hadrons fly: displaced tracks)")

# %% [markdown]
# ## The effect of each knob
#
# Every knob of `Variation`, one at a time, on a small QCD sample of the same seed (so the IP-only
# variants differ from nominal *only* by the smearing). The variants are generated once and cached.

# %%
VARIANTS = {
    "nominal": "nominal",
    "IP +10 %": "ip10", "IP +20 %": "ip20", "IP +30 %": "ip30",
    "IP +10–30 % (f(pT, η))": "ip_only",
    "μR, μF × 2": "scale_only",
    "μR, μF × 0.5": {"name": "scale_half", "mu_r": 0.5, "mu_f": 0.5},
    "target (IP + scales)": "target",
    "tracking efficiency × 0.9": {"name": "track_eff", "track_eff_scale": 0.9},
    "calorimeter resolution × 1.5": {"name": "calo_res", "calo_res_scale": 1.5},
}
n_knob = int(knob_jets or max(30, prof["generate"]["calib_jets"] // 20))
knob_stage = pipeline.Stage("ch01-knobs", {"variants": {k: get_variation(v).to_dict() for k, v in VARIANTS.items()},
                                           "n_jets": n_knob, "seed": seed,
                                           "max_batch": prof["generate"].get("max_batch", 200)})


def make_knob_samples(out):
    from mindgap_lib.generation.generate import generate_jets

    for i, (label, variation) in enumerate(VARIANTS.items()):
        jets = generate_jets("QCD", variation, n_knob, seed, max_batch=knob_stage.config["max_batch"])
        np.savez(out / f"variant_{i:02d}.npz", **summary(ak.Array(jets)))


knob_dir = pipeline.run_stage(pipeline.artifacts_dir(prof, build_dir), knob_stage, make_knob_samples, log=False)
knobs = {label: dict(np.load(knob_dir / f"variant_{i:02d}.npz")) for i, label in enumerate(VARIANTS)}
print(f"{len(knobs)} variants x {n_knob} QCD jets, cached in {knob_dir.name}")

# %%
nominal = knobs["nominal"]
rows = []
for label, s in knobs.items():
    rows.append({"variant": label, "d0_width_ratio": robust_width(s["d0"]) / robust_width(nominal["d0"]),
                 "nparticles_mean": float(s["nparticles"].mean()), "ncharged_mean": float(s["ncharged"].mean())})
fig_k = make_subplots(rows=1, cols=2, horizontal_spacing=0.32,
                      subplot_titles=("robust d0 width / nominal", "mean constituents (charged: hatched)"))
names = [r["variant"] for r in rows]
fig_k.add_trace(go.Bar(y=names, x=[r["d0_width_ratio"] for r in rows], orientation="h", marker_color=COLORS["target"],
                       showlegend=False), row=1, col=1)
fig_k.add_trace(go.Bar(y=names, x=[r["nparticles_mean"] for r in rows], orientation="h", name="all",
                       marker_color=COLORS["source"]), row=1, col=2)
fig_k.add_trace(go.Bar(y=names, x=[r["ncharged_mean"] for r in rows], orientation="h", name="charged",
                       marker=dict(color=COLORS["source"], pattern_shape="/", opacity=0.6)), row=1, col=2)
fig_k.add_vline(x=1.0, line=dict(color="grey", dash="dot"), row=1, col=1)
fig_k.update_xaxes(range=[0.8, 1.45], row=1, col=1)
fig_k.update_yaxes(autorange="reversed")
fig_k.update_layout(title=f"Knob effects on {n_knob} QCD jets", height=460, barmode="overlay",
                    legend=dict(orientation="h", y=-0.12))
fig_k.show()
table = ["| variant | d0 width / nominal | mean constituents | mean charged |", "| --- | --- | --- | --- |"]
table += [f"| {r['variant']} | {r['d0_width_ratio']:.3f} | {r['nparticles_mean']:.1f} | {r['ncharged_mean']:.1f} |"
          for r in rows]
display(Markdown("\n".join(table)))

# %% [markdown]
# ## Move the knobs
#
# **In the static book** the slider below steps through the precomputed variants above: each step draws
# the variant (red) against nominal (blue) with the ratio underneath.

# %%
knob_columns = [("charged-track d0 [mm]", "d0", np.linspace(-d0_max, d0_max, 41), True),
                ("jet constituents", "nparticles", columns[2][2], False)]
fig_s = ratio_layout(knob_columns, height=600)
for c, (_label, key, edges, _logy) in enumerate(knob_columns, 1):
    add_sample(fig_s, c, edges, nominal[key], nominal[key], "nominal", COLORS["source"], showlegend=c == 1)
n_fixed, groups = len(fig_s.data), []
variants = {label: s for label, s in knobs.items() if label != "nominal"}
for k, (label, s) in enumerate(variants.items()):
    first = len(fig_s.data)
    for c, (_label, key, edges, _logy) in enumerate(knob_columns, 1):
        add_sample(fig_s, c, edges, s[key], nominal[key], label, COLORS["calibrated"], visible=k == 0, showlegend=c == 1)
    groups.append(range(first, len(fig_s.data)))
steps = [dict(method="update", label=label,
              args=[{"visible": [j < n_fixed or j in groups[k] for j in range(len(fig_s.data))]},
                    {"title.text": f"knob: {label} (red) vs nominal (blue)"}])
         for k, label in enumerate(variants)]
fig_s.update_layout(sliders=[dict(active=0, steps=steps, currentvalue=dict(prefix="variant: "), pad=dict(t=60))],
                    title=f"knob: {next(iter(variants))} (red) vs nominal (blue)")
fig_s.show()

# %% [markdown]
# **In a live kernel** (Jupyter, after running the cells above) these sliders regenerate a small QCD sample
# with your knob values and redraw it against the nominal sample. The generation takes a few seconds.
# (This cell's output is left out of the static book, which has no kernel.)

# %% tags=["remove-output"]
import ipywidgets as widgets

from mindgap_lib.generation.variations import Variation

sliders = {
    "ip_smear_min": widgets.FloatSlider(value=0.1, min=0.0, max=0.6, step=0.05, description="IP f_min"),
    "ip_smear_max": widgets.FloatSlider(value=0.3, min=0.0, max=0.6, step=0.05, description="IP f_max"),
    "mu_r": widgets.FloatLogSlider(value=2.0, base=2, min=-2, max=2, step=0.25, description="μR factor"),
    "mu_f": widgets.FloatLogSlider(value=2.0, base=2, min=-2, max=2, step=0.25, description="μF factor"),
    "track_eff_scale": widgets.FloatSlider(value=1.0, min=0.5, max=1.0, step=0.05, description="track eff."),
    "calo_res_scale": widgets.FloatSlider(value=1.0, min=0.5, max=3.0, step=0.25, description="calo res."),
}
for s in sliders.values():
    s.continuous_update = False
live_out = widgets.Output()


def redraw(_change=None):
    """Regenerate `live_jets` QCD jets with the slider values and draw them against nominal."""
    from mindgap_lib.generation.generate import generate_jets

    knob = {k: s.value for k, s in sliders.items()}
    knob["ip_smear_min"], knob["ip_smear_max"] = sorted((knob["ip_smear_min"], knob["ip_smear_max"]))
    live = summary(ak.Array(generate_jets("QCD", Variation("live", **knob), live_jets, seed)))
    fig = compare(knob_columns, {"nominal": nominal, "live": live}, "nominal",
                  {"nominal": COLORS["source"], "live": COLORS["calibrated"]})
    fig.update_layout(title=", ".join(f"{k}={v:.2f}" for k, v in knob.items()))
    with live_out:
        live_out.clear_output(wait=True)
        fig.show(renderer="plotly_mimetype+notebook")


for s in sliders.values():
    s.observe(redraw, names="value")
display(widgets.VBox([widgets.HBox(list(sliders.values())[:3]), widgets.HBox(list(sliders.values())[3:]), live_out]))

# %% [markdown]
# ## Numbers of this chapter
#
# Saved to `build/<profile>/chapters/01_datasets.json` and gathered into `build/<profile>/metrics.json` (the
# introduction's "paper vs ours" table reads them).

# %%
numbers.update({"hbb_over_qcd_d0_width": b_width, "sdmass_median_above_40": peaks,
                "knob_effects": rows, "knob_jets": n_knob})
path = pipeline.save_chapter_numbers(prof, build_dir, "01_datasets", numbers)
print(f"wrote {path}")

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
# R = 0.8, 500 < pT < 1000 GeV, |η| < 2, ten classes). Its calibration samples are QCD multijet events from
# Pythia: a **source** with the standard configuration (our stand-in for "Monte Carlo") and a **target**
# (our stand-in for "data") that differs in two ways:
#
# * the **track d0 resolution is worse by 10–30 %**, a detector mismodelling after ATLAS-CONF-2018-006. As in
#   Delphes, whose `TrackSmearing` stores as `ErrorD0` the resolution it smeared with, the stored σ(d0)
#   follows the worse resolution; dz and σ(dz) are untouched;
# * the **renormalisation and factorisation scales are doubled**, μR, μF → 2 μ, in the hard process and
#   in the showers: a physics mismodelling. Pythia's `*MultFac` parameters multiply μ², so μ × 2 is
#   `renormMultFac = factorMultFac = 4`.
#
# JetClass cannot be downloaded here, so this book makes its own jets with the same recipe: Pythia 8 (Monash
# tune, MPI on) for the ten JetClass processes, fastjet anti-kT R = 0.8, and a parametric CMS-like detector in
# the spirit of the Delphes card (tracking efficiency, track-pT and calorimeter resolutions, particle-ID
# flags, and impact parameters computed from each charged particle's *true* production vertex, then smeared
# with the card's σ(d0), σ(dz) tables). Files are written in the exact JetClass ROOT layout, so the same code
# reads real JetClass files.
#
# **Which sample is which.** The tagger learns from nominal jets of the ten classes; its QCD class is, as in
# JetClass, Z(→νν) + jets. The calibration samples (source and target) are instead QCD multijet events
# (`HardQCD:all`, all 2 → 2 QCD processes, both jets of an event kept), as in the paper's section 3, with
# their own seeds: no calibration jet was ever seen by the tagger.
#
# **What is missing.** K⁰S, Λ and the other particles with cτ > 10 mm are left undecayed by the generator
# (`ParticleDecays:limitTau0`), so the metre-long V⁰ tails of JetClass's d0 (its V⁰s decay in the tracker)
# are absent here; B and D hadrons decay with their real lifetimes, so heavy-flavour tails are present.

# %% tags=["parameters"]
profile = "cpu"        # tiny | cpu | paper (or a TOML path): sizes of every stage
device = "cpu"         # unused here (no torch in this chapter); kept so every chapter takes the same knobs
build_dir = "build"    # artifacts under <build_dir>/<profile>/artifacts, numbers under <build_dir>/<profile>/chapters
knob_jets = None       # QCD jets per knob variant (None: the profile's [knobs] jets)
live_jets = None       # QCD jets regenerated per redraw of the live widget (None: [knobs] live_jets)

# %% tags=["hide-input"]
import awkward as ak
import numpy as np
import plotly.graph_objects as go
from IPython.display import Markdown, display
from plotly.subplots import make_subplots

from mindgap_lib.build import Build
from mindgap_lib.claims import AUTHORS_INPUTS, check_goals
from mindgap_lib.config import load_profile
from mindgap_lib.generation.variations import get_variation, ip_worsening
from mindgap_lib.jetclass.io import read_jets
from mindgap_lib.jetclass.schema import CLASSES
from mindgap_lib.jetclass.summaries import SUMMARY_BRANCHES, robust_width, track_summary
from mindgap_lib.plots.datasets import CLASS_COLORS, add_sample, compare, density, ratio_layout, step
from mindgap_lib.plots.style import COLORS, setup_plotly, show_in

setup_plotly()
prof = load_profile(profile)
knobs_cfg = prof.knobs.replace(**{k: v for k, v in {"jets": knob_jets, "live_jets": live_jets}.items() if v})
prof = prof.with_sections(knobs=knobs_cfg)
build = Build(prof, build_dir, device)

# %% [markdown]
# ## The samples of this run
#
# Each sample is a cached stage: rerunning the chapter reuses it, and `mindgap stages --profile <name>`
# lists them with their keys.

# %%
train = build.ensure("train_data")
calib = {v: build.ensure("calib_data", variation=v) for v in ("nominal", "target")}
build.ensure("calib_data", variation="scale_only")  # the scales alone: a systematic variation of chapter 06
gen = prof.generate
print(f"profile {prof.name!r}: {gen.train_jets_per_class} training jets per class; {gen.calib_jets} calibration "
      f"jets ({gen.calib_process}) per variation {list(gen.calib_variations)}")
source = track_summary(read_jets(calib["nominal"].files("calib", "nominal", "QCD"), SUMMARY_BRANCHES))
target = track_summary(read_jets(calib["target"].files("calib", "target", "QCD"), SUMMARY_BRANCHES))
print(f"source: {len(source['nparticles'])} jets, {len(source['d0'])} charged tracks; "
      f"target: {len(target['nparticles'])} jets, {len(target['d0'])} charged tracks")

# %% [markdown]
# ## The paper's Fig. 1, and the authors' input plots
#
# The paper's Fig. 1 shows the charged-track d0 and the jet constituent multiplicity, source against
# target; the authors' repository shows σ(d0), dz and σ(dz) as well. Top: each distribution normalised to
# unit area (log scale for the impact parameters: prompt tracks make the core, heavy-flavour decays the
# tails). Bottom: target / source.

# %%
d0_max = float(np.quantile(np.abs(source["d0"]), 0.995))
dz_max = float(np.quantile(np.abs(source["dz"]), 0.995))
err_edges = np.geomspace(np.quantile(source["d0err"], 0.002), np.quantile(target["d0err"], 0.998), 41)
columns = [
    ("charged-track d0 [mm]", "d0", np.linspace(-d0_max, d0_max, 61), True),
    ("σ(d0) [mm]", "d0err", err_edges, True),
    ("charged-track dz [mm]", "dz", np.linspace(-dz_max, dz_max, 61), True),
    ("jet constituents", "nparticles", np.arange(0, max(source["nparticles"].max(), target["nparticles"].max()) + 6, 4.0), False),
]
fig1 = compare(columns, {"source": source, "target": target}, "source", COLORS, height=560)
fig1.update_xaxes(type="log", row=2, col=2)
fig1.update_xaxes(type="log", row=1, col=2)
fig1.update_layout(title="Fig. 1 — source (simulation) vs target (pseudo-data), QCD multijet jets")
fig1.show()

# %%
def median_ratio(key):
    return float(np.median(target[key]) / np.median(source[key]))


def width_ratio(key):
    return robust_width(target[key]) / robust_width(source[key])


numbers = {
    "n_source_jets": int(len(source["nparticles"])), "n_target_jets": int(len(target["nparticles"])),
    "d0_width_source_mm": robust_width(source["d0"]), "d0_width_target_mm": robust_width(target["d0"]),
    "d0_width_ratio": width_ratio("d0"), "d0err_median_ratio": median_ratio("d0err"),
    "d0sig_width_ratio": width_ratio("d0sig"), "dz_width_ratio": width_ratio("dz"),
    "dzerr_median_ratio": median_ratio("dzerr"),
    "nparticles_mean_source": float(source["nparticles"].mean()),
    "nparticles_mean_target": float(target["nparticles"].mean()),
    "ncharged_mean_ratio": float(target["ncharged"].mean() / source["ncharged"].mean()),
}
numbers["nparticles_mean_ratio"] = numbers["nparticles_mean_target"] / numbers["nparticles_mean_source"]
rows = [("d0: robust width ratio", numbers["d0_width_ratio"], "d0_width_ratio"),
        ("σ(d0): median ratio", numbers["d0err_median_ratio"], "d0err_median_ratio"),
        ("dz: robust width ratio", numbers["dz_width_ratio"], "dz_width_ratio"),
        ("σ(dz): median ratio", numbers["dzerr_median_ratio"], "dzerr_median_ratio"),
        ("constituents: mean ratio", numbers["nparticles_mean_ratio"], "nparticles_mean_ratio"),
        ("charged constituents: mean ratio", numbers["ncharged_mean_ratio"], "ncharged_mean_ratio")]
table = ["| target / source | this run | the authors' input plots |", "|---|---|---|"]
table += [f"| {label} | {value:.3f} | {AUTHORS_INPUTS.get(key, '—')} |" for label, value, key in rows]
display(Markdown("\n".join(table)))

# %% [markdown]
# The robust width is 1.4826 × the median absolute deviation, which the long heavy-flavour tails barely
# move. The d0 core widens by the configured 10–30 % (the share of soft tracks decides where in that range
# it lands) and σ(d0) moves with it. The doubled scales change the multiplicity: a larger μ means a
# smaller αs in the showers, so fewer emissions and fewer constituents. Fewer soft tracks also narrow the
# dz distribution a little (soft tracks are measured worst), although the detector leaves dz untouched:
# on the same events, the d0-only variation of the knob scan below gives a dz width ratio of exactly 1. The authors'
# numbers were read off the vector paths of their published input plots (100 000 jets per sample); their
# plots show only the central 74–80 % of each track distribution, so their widths are those of the core.

# %% [markdown]
# ## How the target's d0 resolution depends on the track
#
# The paper quotes "10–30 %" without a functional form. Ours (`mindgap_lib.generation.variations.Variation`):
# each track's d0 is smeared with width (1 + f)·σ(d0), and σ(d0) is stored as that width, with
# f(pT, η) = f_min + (f_max − f_min)·g, g = 1 / (1 + (pT / (10 GeV·√cosh η))²). g is the multiple-scattering
# share of the resolution, so soft and forward tracks, where mismodelled tracker material matters, get the
# full 30 %; stiff central tracks, limited by alignment and hit resolution, get 10 %.

# %%
target_var = get_variation("target")
pts = np.logspace(-0.5, 2.5, 200)
fig_f = go.Figure()
for eta, dash in ((0.0, "solid"), (1.0, "dash"), (2.0, "dot")):
    f = ip_worsening(pts, np.full_like(pts, eta), target_var.ip_smear_min, target_var.ip_smear_max)
    fig_f.add_trace(go.Scatter(x=pts, y=100 * f, name=f"η = {eta:g}", line=dict(dash=dash, color=COLORS["target"])))
fig_f.update_xaxes(type="log", title_text="track pT [GeV]")
fig_f.update_yaxes(title_text="d0 resolution worsening f [%]", range=[0, 35])
fig_f.update_layout(title="Target d0 worsening f(pT, η)", height=380)
fig_f.show()

# %% [markdown]
# ## All ten classes (the paper's appendix C)
#
# The tagger is trained on nominal jets of the ten JetClass classes. Jet-level features first, then
# particle-level ones. Each curve is normalised to unit area.

# %%
jets = {c: read_jets(train.files("train", "nominal", c)) for c in CLASSES}
tau = {c: (ak.to_numpy(j["jet_tau2"] / j["jet_tau1"]), ak.to_numpy(j["jet_tau3"] / j["jet_tau2"])) for c, j in jets.items()}
jet_cols = [("jet pT [GeV]", "jet_pt", np.linspace(450, 1050, 41)), ("jet η", "jet_eta", np.linspace(-2.2, 2.2, 23)),
            ("constituents", "jet_nparticles", np.arange(0, 152, 6.0)), ("soft-drop mass [GeV]", "jet_sdmass", np.linspace(0, 260, 53)),
            ("τ21", "tau21", np.linspace(0, 1, 26)), ("τ32", "tau32", np.linspace(0, 1, 26))]
fig_jets = make_subplots(rows=2, cols=3, vertical_spacing=0.14, horizontal_spacing=0.06)
for i, (label, key, edges) in enumerate(jet_cols):
    r, c = divmod(i, 3)
    for cls, j in jets.items():
        x = tau[cls][0] if key == "tau21" else tau[cls][1] if key == "tau32" else ak.to_numpy(j[key])
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
for cls, j in jets.items():
    m = ak.to_numpy(j["jet_sdmass"])
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
parts = {c: track_summary(j) for c, j in jets.items()}
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
# Every knob of `Variation`, one at a time, on a small QCD multijet sample of one seed (so the d0-only
# variants differ from nominal *only* by the smearing). The variants are generated once and cached.
# Two of them define the target two ways: `target` (the paper's: σ(d0) follows the worse resolution, as
# Delphes stores it) and `target, errors nominal` (a reconstruction that keeps reporting its nominal
# errors while the observed spread is wider). The first moves σ(d0) and leaves d0/σ(d0) nearly as it was;
# the second leaves σ(d0) alone and widens d0/σ(d0).

# %%
knobs = build.ensure("knobs").variants()
nominal = knobs["nominal"]
d0_only = knobs["d0 +10–30 % (f(pT, η))"]
numbers["dz_width_ratio_detector"] = robust_width(d0_only["dz"]) / robust_width(nominal["dz"])
numbers["dzerr_median_ratio_detector"] = float(np.median(d0_only["dzerr"]) / np.median(nominal["dzerr"]))
rows = []
for label, s in knobs.items():
    rows.append({"variant": label, "d0_width_ratio": robust_width(s["d0"]) / robust_width(nominal["d0"]),
                 "d0err_median_ratio": float(np.median(s["d0err"]) / np.median(nominal["d0err"])),
                 "d0sig_width_ratio": robust_width(s["d0sig"]) / robust_width(nominal["d0sig"]),
                 "nparticles_mean": float(s["nparticles"].mean()), "ncharged_mean": float(s["ncharged"].mean())})
fig_k = make_subplots(rows=1, cols=3, horizontal_spacing=0.05, shared_yaxes=True,
                      subplot_titles=("d0 width / nominal", "median σ(d0) / nominal", "mean constituents"))
names = [r["variant"] for r in rows]
fig_k.add_trace(go.Bar(y=names, x=[r["d0_width_ratio"] for r in rows], orientation="h", marker_color=COLORS["target"],
                       showlegend=False), row=1, col=1)
fig_k.add_trace(go.Bar(y=names, x=[r["d0err_median_ratio"] for r in rows], orientation="h",
                       marker_color=COLORS["calibrated"], showlegend=False), row=1, col=2)
fig_k.add_trace(go.Bar(y=names, x=[r["nparticles_mean"] for r in rows], orientation="h", name="all",
                       marker_color=COLORS["source"]), row=1, col=3)
fig_k.add_trace(go.Bar(y=names, x=[r["ncharged_mean"] for r in rows], orientation="h", name="charged",
                       marker=dict(color=COLORS["source"], pattern_shape="/", opacity=0.6)), row=1, col=3)
for col in (1, 2):
    fig_k.add_vline(x=1.0, line=dict(color="grey", dash="dot"), row=1, col=col)
    fig_k.update_xaxes(range=[0.8, 1.45], row=1, col=col)
fig_k.update_yaxes(autorange="reversed")
fig_k.update_layout(title=f"Knob effects on {prof.knobs.jets} QCD multijet jets", height=480, barmode="overlay",
                    legend=dict(orientation="h", y=-0.12), margin=dict(l=230))
fig_k.show()
table = ["| variant | d0 width / nominal | median σ(d0) / nominal | d0/σ width / nominal | mean constituents | mean charged |",
         "| --- | --- | --- | --- | --- | --- |"]
table += [f"| {r['variant']} | {r['d0_width_ratio']:.3f} | {r['d0err_median_ratio']:.3f} | {r['d0sig_width_ratio']:.3f} "
          f"| {r['nparticles_mean']:.1f} | {r['ncharged_mean']:.1f} |" for r in rows]
display(Markdown("\n".join(table)))

# %% [markdown]
# ## Move the knobs
#
# **In the static book** the slider below steps through the precomputed variants above: each step draws
# the variant (red) against nominal (blue) with the ratio underneath.

# %%
knob_columns = [("charged-track d0 [mm]", "d0", np.linspace(-d0_max, d0_max, 41), True),
                ("σ(d0) [mm]", "d0err", err_edges, True),
                ("jet constituents", "nparticles", columns[3][2], False)]
fig_s = ratio_layout(knob_columns, height=600)
for c, (_label, key, edges, _logy) in enumerate(knob_columns, 1):
    add_sample(fig_s, c, edges, nominal[key], nominal[key], "nominal", COLORS["source"], showlegend=c == 1)
fig_s.update_xaxes(type="log", row=1, col=2)
fig_s.update_xaxes(type="log", row=2, col=2)
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

from mindgap_lib.generation.generate import generate_jets
from mindgap_lib.generation.variations import MU_RANGE, Variation

sliders = {
    "ip_smear_min": widgets.FloatSlider(value=0.1, min=0.0, max=0.6, step=0.05, description="d0 f_min"),
    "ip_smear_max": widgets.FloatSlider(value=0.3, min=0.0, max=0.6, step=0.05, description="d0 f_max"),
    "mu_r": widgets.FloatLogSlider(value=2.0, base=2, min=np.log2(MU_RANGE[0]), max=np.log2(MU_RANGE[1]), step=0.25,
                                   description="μR factor"),
    "mu_f": widgets.FloatLogSlider(value=2.0, base=2, min=np.log2(MU_RANGE[0]), max=np.log2(MU_RANGE[1]), step=0.25,
                                   description="μF factor"),
    "track_eff_scale": widgets.FloatSlider(value=1.0, min=0.5, max=1.0, step=0.05, description="track eff."),
    "calo_res_scale": widgets.FloatSlider(value=1.0, min=0.5, max=3.0, step=0.25, description="calo res."),
    "ip_update_errors": widgets.Checkbox(value=True, description="σ(d0) follows"),
}
for s in sliders.values():
    s.continuous_update = False
live_out = widgets.Output()


def redraw(_change=None):
    """Regenerate live_jets QCD jets with the slider values and draw them against nominal."""
    knob = {k: s.value for k, s in sliders.items()}
    knob["ip_smear_min"], knob["ip_smear_max"] = sorted((knob["ip_smear_min"], knob["ip_smear_max"]))
    live = track_summary(ak.Array(generate_jets(prof.generate.calib_process, Variation("live", **knob),
                                                prof.knobs.live_jets, prof.knobs.seed)))
    fig = compare(knob_columns, {"nominal": nominal, "live": live}, "nominal",
                  {"nominal": COLORS["source"], "live": COLORS["calibrated"]})
    fig.update_layout(title=", ".join(f"{k}={v:.2f}" if not isinstance(v, bool) else f"{k}={v}" for k, v in knob.items()))
    show_in(live_out, fig)


for s in sliders.values():
    s.observe(redraw, names="value")
display(widgets.VBox([widgets.HBox(list(sliders.values())[:4]), widgets.HBox(list(sliders.values())[4:]), live_out]))

# %% [markdown]
# ## Numbers of this chapter
#
# Saved to `build/<profile>/chapters/01_datasets.json` and gathered into `build/<profile>/metrics.json`
# (the introduction's "paper vs ours" table reads them). The goals of the target's definition:

# %%
numbers.update({"hbb_over_qcd_d0_width": b_width, "sdmass_median_above_40": peaks,
                "knob_effects": rows, "knob_jets": prof.knobs.jets})
path = build.save_numbers("01_datasets", numbers)
goals = [g for g in check_goals({"chapters": {"01_datasets": numbers}}) if g["met"] is not None]
display(Markdown("\n".join(f"- {g['goal']}: **{g['value']:.3f}** (wanted {g['wanted']}): "
                           f"{'met' if g['met'] else '**not met**'}" for g in goals)))
print(f"wrote {path}")

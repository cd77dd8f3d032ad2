# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2. The jet tagger
#
# The calibration of this book acts *inside* a classifier, so we first need the classifier: a
# transformer that reads the particles of a jet and says which of the ten JetClass classes it
# came from. We follow the paper's description (its Fig. 2 and Table 1):
#
# - each particle enters with the 17 ParT features (kinematics relative to the jet, particle-ID
#   flags, track impact parameters and their errors). As the authors do, every continuous feature goes
#   through a monotone map onto a unit normal (its quantiles on the nominal *training* jets mapped onto
#   those of N(0, 1)), fitted once and stored with the weights: without it the d0 core, tens of µm wide,
#   would sit next to features of order one and barely reach the network;
# - a learnt **class token** attends to the particles through a stack of encoder blocks
#   (multi-head self-attention, GLU feed-forward, dropout); padding is masked, and there is no
#   positional encoding, so the output does not depend on the order of the particles;
# - the jet's own features (pT, η, φ, E, multiplicity) modulate every block through **FiLM**;
# - an **MLP head** of 128-wide GELU layers ends in ten logits. Its first layer, before the
#   activation, is **z128**: the latent space that later chapters calibrate. The last 128-wide
#   layer (**penultimate**) and the **logits** are used to check how a calibration propagates.
#
# The tagger is trained on the nominal ("simulation") jets of all ten classes, with a held-out
# validation set for the training curves and a test set for the numbers below. Before it starts, two
# small stages that later chapters need run side by side, each in its own one-core process: the d0
# scan's own sample (chapter 05) and chapter 03's check of the transport solver. The tagger then
# trains alone, on every core (in the cpu profile with batches of jets of similar multiplicity, so that
# little of each batch is padding).

# %% tags=["parameters"]
profile = "cpu"
device = "cpu"
build_dir = "build"

# %%
import json
import os

import numpy as np
import plotly.graph_objects as go
from IPython.display import Markdown, display
from plotly.subplots import make_subplots

from mindgap_lib.build import Build
from mindgap_lib.claims import JETCLASS_PUBLISHED
from mindgap_lib.config import load_profile
from mindgap_lib.jetclass.schema import CLASSES
from mindgap_lib.plots.datasets import compare
from mindgap_lib.plots.style import COLORS, setup_plotly
from mindgap_lib.tagger.features import flat_inputs, load_features
from mindgap_lib.tagger.metrics import JETCLASS_WORKING_POINTS, roc_versus_qcd, softmax

setup_plotly()
prof = load_profile(profile)
build = Build(prof, build_dir, device)
build.ensure_many(["scan_base", "known_maps"], workers=os.cpu_count() or 1)  # one-core jobs side by side ...
tagger = build.ensure("tagger")  # ... then the tagger alone, on every core the profile gives it
latents = {v: build.ensure("latents", variation=v) for v in ("nominal", "target")}
metrics = tagger.metrics()
scores = tagger.test_scores()
model = tagger.model(device)
layers = model.head.names

# %% [markdown]
# ## Architecture
#
# Our sizes come from the profile; the `paper` profile reproduces Table 1 of the paper. Smaller
# profiles keep the architecture and shrink width, depth and the number of particles so that
# training fits on a laptop.

# %%
cfg, train_cfg = prof.tagger.model, prof.tagger.train
paper_cfg, paper_train = load_profile("paper").tagger.model, load_profile("paper").tagger.train
rows = [("particles per jet", cfg.num_particles, paper_cfg.num_particles),
        ("transformer width", cfg.dim, paper_cfg.dim),
        ("encoder blocks", cfg.num_layers, paper_cfg.num_layers),
        ("attention heads", cfg.num_heads, paper_cfg.num_heads),
        ("GLU dimension increase", cfg.mlp_ratio, paper_cfg.mlp_ratio),
        ("dropout", cfg.dropout, paper_cfg.dropout),
        ("MLP head: layers x width", f"{cfg.head_layers} x {cfg.head_width}", f"{paper_cfg.head_layers} x {paper_cfg.head_width}"),
        ("optimiser steps (warm-up)", f"{train_cfg.steps} ({train_cfg.warmup_steps})", f"{paper_train.steps} ({paper_train.warmup_steps})"),
        ("batch size", train_cfg.batch_size, paper_train.batch_size),
        ("gradient clipping", train_cfg.clip, paper_train.clip),
        ("batches by multiplicity (steps per group)", train_cfg.length_buckets, paper_train.length_buckets)]
table = "| | this run | paper (Table 1) |\n|---|---|---|\n" + "\n".join(f"| {a} | {b} | {c} |" for a, b, c in rows)
counts = {name: sum(p.numel() for p in mod.parameters()) for name, mod in model.named_children()}
params = ", ".join(f"{k} {v:,}" for k, v in counts.items())
display(Markdown(table + f"\n\nParameters: **{metrics['n_params']:,}** ({params}, class token {model.cls_token.numel()}); "
                 f"trained on {metrics['n_train']:,} jets, validated on {metrics['n_val']:,}, tested on {metrics['n_test']:,}."))

# %% [markdown]
# ## What the tagger reads: its inputs after the transform, source against target
#
# The same frozen transform maps the raw columns of every sample, so source and target differ in the
# model's inputs exactly as they differ in the raw data. Below, the transformed continuous features of
# the calibration samples' particles (tracks only for the impact parameters): d0 and σ(d0) carry the
# target's difference at order one, where the tagger can see it.

# %%
calib = {v: build.ensure("calib_data", variation=v) for v in ("nominal", "target")}
inputs = {name: flat_inputs(load_features(calib[v].files("calib", v, "QCD")[:3], cfg.num_particles, with_labels=False,
                                          transform=model.input_transform))
          for name, v in (("source", "nominal"), ("target", "target"))}
edges = np.linspace(-5, 5, 51)
in_cols = [(f"{k} (transformed)", k, edges, True) for k in ("d0", "d0err", "dz", "dzerr")]
fig = compare(in_cols, inputs, "source", COLORS, height=480)
fig.update_layout(title="Tagger inputs after the quantile-to-normal transform: calibration tracks, source vs target")
fig.show()
input_shift = {k: float(np.median(inputs["target"][k]) - np.median(inputs["source"][k]))
               for k in ("d0", "d0err", "dz", "dzerr")}
display(Markdown("Median shift target − source, in units of the transformed scale (≈ σ of a unit normal): "
                 + ", ".join(f"{k} {v:+.3f}" for k, v in input_shift.items()) + "."))

# %% [markdown]
# ## Training
#
# AdamW with a linear warm-up and a cosine decay, gradient-norm clipping at 1. The validation
# loss is computed on jets never used for the updates.
#
# A batch is padded to its longest jet, and a random batch of 128 almost always holds a jet of
# ~100 particles while the mean is ~50. With `length_buckets = K > 1` the jets of K consecutive steps
# are drawn together, sorted by multiplicity and cut into K batches (still every jet once per epoch),
# so about half the padding is never computed. Step for step this costs accuracy, because a batch
# is no longer a random sample; for the same wall time it wins, because twice the steps fit. On the
# 2-core development machine: 600 steps reached 0.699 (random batches, 523 s) against 0.657
# (K = 16, 270 s), and 1200 bucketed steps 0.718 in 496 s.

# %%
hist = metrics["history"]
steps = [h["step"] for h in hist]
fig = make_subplots(rows=1, cols=2, subplot_titles=("cross-entropy", "validation accuracy"))
fig.add_trace(go.Scatter(x=steps, y=[h["train_loss"] for h in hist], name="train (mean since last point)"), 1, 1)
fig.add_trace(go.Scatter(x=steps, y=[h["val_loss"] for h in hist], name="validation"), 1, 1)
fig.add_trace(go.Scatter(x=steps, y=[h["val_accuracy"] for h in hist], name="validation accuracy", showlegend=False), 1, 2)
fig.update_xaxes(title_text="optimiser step")
fig.update_layout(height=380, title=f"Training of the tagger ({metrics['training_time_s'] / 60:.1f} min, "
                                    f"{metrics['train_jets_per_s'] or 0:.0f} jets/s on {device})")
fig.show()

# %%
display(Markdown(f"Test accuracy over the ten classes: **{metrics['accuracy']:.3f}** (chance: 0.1); "
                 f"macro-averaged one-vs-rest AUC: **{metrics['macro_auc']:.4f}**; "
                 f"H→bb̄ vs QCD AUC: **{metrics['auc_vs_qcd']['Hbb']:.4f}**."))

# %% [markdown]
# ## ROC curves against QCD
#
# As in the JetClass paper, each signal class X is separated from QCD with the score
# $p_X / (p_X + p_\mathrm{QCD})$, and performance is quoted as the QCD rejection $1/\varepsilon_\mathrm{QCD}$
# at a fixed signal efficiency.

# %%
probs = softmax(scores["logits"].astype(np.float64))
labels = scores["labels"]
fig = go.Figure()
for c, name in enumerate(CLASSES[1:], start=1):
    if (labels == c).any() and (labels == 0).any():
        tpr, fpr = roc_versus_qcd(probs, labels, c)
        keep = fpr > 0
        fig.add_trace(go.Scatter(x=tpr[keep], y=1 / fpr[keep], name=name, mode="lines"))
fig.update_layout(xaxis_title="signal efficiency", yaxis_title="QCD rejection 1/ε<sub>QCD</sub>", yaxis_type="log",
                  height=450, title="Each class against QCD (test set)")
fig.show()

# %% [markdown]
# ## Rejections in the JetClass style
#
# Below, our rejections at the JetClass working points (50 % signal efficiency; 99 % for
# H→ℓνqq′ and 99.5 % for t→bℓν, where rejection at 50 % would be unmeasurably large) beside the
# published numbers of ParT and ParticleNet on JetClass (Qu, Li, Qian, *Particle Transformer for
# Jet Tagging*, ICML 2022, arXiv:2202.03772, Table 2). A "≥" marks a rejection limited by the number of
# QCD test jets (no QCD jet passed the cut).
#
# Ours are expected to be far lower, for three reasons that have nothing to do with the method:
#
# 1. **Data**: ParT trained on 100 M JetClass jets (MadGraph + Pythia + Delphes); the `cpu` profile
#    trains on a few ten thousand jets from our own Pythia generator and parametric detector.
#    Rejections of 10⁴ need both that much training data and millions of test jets to measure.
# 2. **Model**: ParT adds pairwise particle-interaction features to its attention and has ~2 M
#    parameters trained for hours on GPUs; the `cpu` profile is a small transformer trained for
#    ~15 minutes on two CPU cores. The `paper` profile restores the paper's sizes.
# 3. **Generator**: our detector is a simplified CMS-like parametrisation, so the classes are
#    not exactly as separable as in JetClass (easier in some respects, harder in others).
#
# What matters for this book is not the absolute rejection but that the tagger is a genuine,
# well-trained transformer whose latent space encodes the physics (flavour, prongs, mass).

# %%
PUBLISHED = JETCLASS_PUBLISHED  # arXiv:2202.03772 Table 2 (JetClass, 100 M training jets)
ORDER = ("Hbb", "Hcc", "Hgg", "H4q", "Hqql", "Tbqq", "Tbl", "Wqq", "Zqq")


def _fmt(r):
    if r["value"] is None:
        return "n/a"
    return ("≥ " if r["limited"] else "") + f"{r['value']:.0f}"


ours = {n: metrics["per_class"][n]["rejection_jetclass"] for n in ORDER}
head = "| | accuracy | AUC | " + " | ".join(f"{n} Rej{JETCLASS_WORKING_POINTS[n] * 100:g}%" for n in ORDER) + " |"
lines = [head, "|---" * (len(ORDER) + 3) + "|",
         f"| this run ({profile}) | {metrics['accuracy']:.3f} | {metrics['macro_auc']:.4f} | "
         + " | ".join(_fmt(ours[n]) for n in ORDER) + " |"]
for model_name, (acc, auc, rej) in PUBLISHED.items():
    lines.append(f"| {model_name} (JetClass) | {acc:.3f} | {auc:.4f} | " + " | ".join(str(rej[n]) for n in ORDER) + " |")
display(Markdown("\n".join(lines)))

# %% [markdown]
# ## Confusion matrix
#
# Rows are the true classes, columns the predicted ones, each row normalised to one. The
# expected confusions are those of JetClass: H→bb̄ / H→cc̄ / H→gg among themselves and with QCD,
# W and Z (two-prong jets of similar mass), and the two top decays with H→4q.

# %%
conf = np.array(metrics["confusion"], dtype=float)
conf_norm = conf / np.maximum(conf.sum(1, keepdims=True), 1)
fig = go.Figure(go.Heatmap(z=conf_norm, x=list(CLASSES), y=list(CLASSES), colorscale="Blues", zmin=0, zmax=1,
                           text=np.round(conf_norm, 2), texttemplate="%{text}", hovertemplate="true %{y}, predicted %{x}: %{z:.3f}<extra></extra>"))
fig.update_layout(xaxis_title="predicted", yaxis_title="true", yaxis_autorange="reversed", height=520,
                  title="Confusion matrix (test set, row-normalised)")
fig.show()

# %% [markdown]
# ## A first look at the latent space
#
# The frozen tagger is now run over two *separate* QCD multijet samples that it never saw in training:
# the **source** (nominal simulation) and the **target** (our stand-in for data: d0 resolution 10–30 %
# worse, with σ(d0) following it, and μR, μF doubled). Each of the 128 coordinates of the first head
# layer is a learnt function of the whole jet. Below: how far each
# coordinate's mean moves between source and target, in units of its source standard
# deviation, and the marginals of the coordinates that move most. The differences are small per
# coordinate, but they are spread over many dimensions: the next chapters measure them jointly
# and remove them with an optimal transport map.

# %%
zs, zt = latents["nominal"].arrays((layers.z,))[layers.z], latents["target"].arrays((layers.z,))[layers.z]
shift = (zt.mean(0) - zs.mean(0)) / np.maximum(zs.std(0), 1e-6)
order = np.argsort(-np.abs(shift))
fig = go.Figure(go.Bar(x=np.arange(zs.shape[1]), y=shift, marker_color=COLORS["target"]))
fig.update_layout(xaxis_title=f"{layers.z} coordinate", yaxis_title="(mean target − mean source) / σ source", height=320,
                  title=f"Source vs target QCD in {layers.z} ({len(zs):,} and {len(zt):,} jets)")
fig.show()

top = order[:6]
fig = make_subplots(rows=2, cols=3, subplot_titles=[f"{layers.z}[{i}]" for i in top])
for k, i in enumerate(top):
    edges = np.histogram_bin_edges(np.concatenate([zs[:, i], zt[:, i]]), bins=40)
    for name, z in (("source", zs), ("target", zt)):
        h, _ = np.histogram(z[:, i], bins=edges, density=True)
        fig.add_trace(go.Scatter(x=0.5 * (edges[1:] + edges[:-1]), y=h, mode="lines", line_shape="hvh", name=name,
                                 line_color=COLORS[name], showlegend=k == 0), row=k // 3 + 1, col=k % 3 + 1)
fig.update_layout(height=520, title=f"{layers.z} marginals with the largest source/target shift")
fig.show()

# %%
numbers = {
    "accuracy": metrics["accuracy"], "macro_auc": metrics["macro_auc"],
    "auc_hbb_vs_qcd": metrics["auc_vs_qcd"]["Hbb"], "rejection_at_50": metrics["rejection_at_50"],
    "training_time_s": metrics["training_time_s"], "n_params": metrics["n_params"], "n_train": metrics["n_train"],
    "z_max_abs_mean_shift_sigma": float(np.abs(shift).max()), "input_median_shift": input_shift,
    "n_source": int(len(zs)), "n_target": int(len(zt)),
}
print(json.dumps(numbers, indent=1))
build.save_numbers("02_tagger", numbers)

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
# # 4. Closure: does the calibrated latent look like the target?
#
# The previous chapter fitted an optimal transport map $T$ that moves the tagger's latent
# representation $z_{128}$ of simulated QCD jets (the **source**) onto that of the modified
# simulation standing in for collision data (the **target**). Here we ask whether it worked,
# with the paper's three tools (its Section 5.1):
#
# 1. **Principal components** of the target's $z_{128}$: corner plots of the five leading
#    components, source vs target and calibrated vs target (the paper's Fig. 3).
# 2. **Discriminators** (the paper's Table 3 classifier, sized by the profile) trained to tell two
#    samples apart in three layers of the tagger's head: $z_{128}$ where the map acts, the last
#    128-wide layer (**penultimate**) and the ten **logits**. A held-out AUC of 0.5 means "cannot
#    tell them apart". The calibrated sample is the source pushed through $T$ and then through
#    the frozen rest of the head, so its penultimate layer and logits are what the tagger itself
#    makes of the calibrated latent. Every AUC carries DeLong's error from the test sample, and a
#    **null** comparison (two halves of the target) shows where 0.5 sits within that error.
# 3. **Physics discriminants**: the log-likelihood ratios an analysis would use,
#    $\log p_{Hbb}/p_{QCD}$, $\log p_{Hcc}/p_{QCD}$, $\log p_{Hcc}/p_{Tbqq}$,
#    $\log p_{Tbqq}/p_{QCD}$ (the paper's Figs. 5 and 11), and the ten class probabilities
#    (Fig. 10), with closure measured by the 1-Wasserstein distance and $\chi^2$/ndf to the target.
#
# **How the rows are split.** Each calibration sample (source and target) is cut once, by a seeded
# permutation, into *fit* rows (the map learns from them, and nothing else does) and *eval* rows
# (`[split] fit_fraction`). Every number of this chapter is computed on eval rows only. The
# discriminators are **cross-fitted** on them: the eval rows are cut into folds, each fold is scored by a
# fit trained (and early-stopped) on the others, so every jet has an out-of-sample score; an AUC comes
# from all of them (with DeLong's error) and the spread over folds says how much one fit would wander.
# The **null** comparisons take as many target jets as the source has eval rows, from the target's fit
# rows (disjoint from its eval rows; no null involves a map), and compare them with the target's eval
# rows: the same sizes as the real comparisons. Each W1 is quoted with its bootstrap error and as its
# **excess over that floor**, √(W1² − W1²_floor): two finite samples of one distribution are never at
# W1 = 0. The comparison with reweighting ("vertical" calibration) is the subject of the next chapter;
# its closure numbers are shown here beside the transport's for reference.

# %% tags=["parameters"]
profile = "cpu"
device = "cpu"
build_dir = "build"
post = True  # also calibrate after the first GELU (studied in chapter 05)

# %%
from IPython.display import Markdown, display

from mindgap_lib.build import Build
from mindgap_lib.claims import check_goals
from mindgap_lib.plots.evaluation import auc_table_markdown, corner_figure, observable_figure, roc_figure, score_figure
from mindgap_lib.plots.style import setup_plotly

setup_plotly()
build = Build(profile, build_dir, device)
evaluation = build.ensure("evaluation", post=post)
metrics, figures, pca = evaluation.metrics(), evaluation.figures(), evaluation.pca()
info, z = metrics["info"], metrics["layers"]["z"]
display(Markdown(f"Of **{info['n_source']}** source and **{info['n_target']}** target jets, the map was fitted on "
                 f"{info['n_source_fit']} and {info['n_target_fit']}; everything below uses the other "
                 f"**{info['n_source_eval']}** and **{info['n_target_eval']}** (null: {info['n_null']} independent "
                 f"target jets), with {info['folds']}-fold cross-fitted discriminators; "
                 f"{info['seconds']:.0f} s on `{info['device']}`."))

# %% [markdown]
# ## The latent space, seen through its principal components (Fig. 3)
#
# The PCA is fitted on the target alone, so all samples are drawn in the target's frame. The
# dropdown switches between the source and the calibrated sample (each against the target);
# contours are drawn at the same levels for both samples of a panel.

# %%
evr = pca["explained_variance_ratio"]
display(Markdown("Variance of the target's z128 carried by the five leading components: "
                 + ", ".join(f"PC{i + 1} {v:.1%}" for i, v in enumerate(evr)) + f" (together {sum(evr):.1%})."))
corner_figure(pca).show()

# %% [markdown]
# ## Discriminators in three layers (Fig. 4 and Table 3)
#
# The paper's text gives these AUCs qualitatively (its Fig. 4a draws the ROC curves): the
# source–target difference is largest in $z_{128}$ and shrinks in deeper layers; after
# calibration a discriminator still separates calibrated from target in $z_{128}$ with
# AUC ≈ 1, while in the penultimate layer and the logits the AUC is ≈ 0.5. The paper shows no
# target-vs-target null.
#
# Two lessons from building this chapter. **Let the discriminator train, and size it to the data.**
# A residual left by the map can be learnt slowly: with a patience of 8 our first run stopped the
# calibrated-vs-target fit in $z_{128}$ at epoch 2 with AUC 0.49, where training on reached 0.92. A
# short-trained discriminator makes any calibration look perfect. With ten thousand jets per side the
# paper's deep shape (4 layers, half width) overfitted by its second epoch; one 64-wide layer at a lower
# learning rate trains for about fifty epochs and sees more of every difference. On the same 10 000 jets
# per side, five folds each, it gave 0.788 against 0.749 for source vs target at $z_{128}$ and 0.860
# against 0.761 for calibrated vs target there; at the penultimate layer calibrated vs target rose to
# 0.538 (the old shape with three folds: 0.520). The `cpu` profile uses it (five folds): a stricter test of
# the calibration, not a kinder one. **Keep the map in the latents' span** (chapter 03): fitted in all 128
# directions, that same map had matched every marginal yet sat at AUC 0.92 in $z_{128}$ (source vs
# target in that build: 0.59), because it scattered noise into directions the tagger never uses.

# %%
display(Markdown(auc_table_markdown(metrics["auc"])))

# %%
roc_figure(figures["roc"]).show()

# %% [markdown]
# The score distributions (the paper's Fig. 4b) show how much the two samples overlap. Where
# the source and target scores pile up at opposite ends, a density ratio $s/(1-s)$ is huge for
# a few source jets and tiny for the rest: reweighting cannot work there (chapter 05). The
# "overlap" in each title is $\int \min(p_a, p_b)$ of the two score densities.

# %%
labels = {"source_vs_target": ("source", "target"), "calibrated_vs_target": ("calibrated", "target"),
          "target_vs_target": ("target half A", "target half B")}
score_figure(figures["scores"], labels).show()

# %% [markdown]
# ## How wide is the gap? The discriminator's learning curve
#
# A discriminator trained on a finite sample sees only part of a difference: its held-out AUC is a
# lower bound on the best one, and it climbs with the training sample for as long as the discriminator
# is data-limited. Below, the source-vs-target AUC at $z_{128}$ is measured on nested random subsets of
# *all* calibration jets of each sample, fit and eval halves together. No map is involved, and every jet
# is still scored by a cross-fitted discriminator that never saw it. The diamond is the closure table's
# number on the eval rows. Where the curve still rises at the largest size, the latents are further
# apart than any single AUC in the table says. The paper's AUC close to 1 came from a tagger trained on
# about a hundred million jets and from discriminators trained on millions.

# %%
import math

from mindgap_lib.plots.evaluation import gap_curve_figure

gap = metrics["gap_curve"]["points"]
s_vs_t = metrics["auc"]["source_vs_target"][z]
gap_curve_figure(gap, {"n": info["n_source_eval"], "value": s_vs_t["value"], "err": s_vs_t["err"]}, z).show()
if len(gap) >= 2:
    (a, b) = gap[-2], gap[-1]
    per_doubling = (b["auc"] - a["auc"]) / max(math.log2(b["jets_per_side"] / a["jets_per_side"]), 1e-9)
    display(Markdown(f"With **{b['jets_per_side']}** jets per side the source-vs-target AUC at {z} is "
                     f"**{b['auc']:.3f} ± {b['err']:.3f}** ({a['jets_per_side']} jets: {a['auc']:.3f}); "
                     f"between the last two sizes it rose by {per_doubling:+.3f} per doubling of the sample."))

# %% [markdown]
# ## Physics discriminants and class probabilities (Figs. 5, 10, 11)
#
# Each panel shows the target (points with statistical errors), the uncalibrated source, the
# calibrated source, and the source reweighted with the $z_{128}$ discriminator's density ratio
# (vertical). The ratio panel divides by the target; the grey band is the target's statistical
# error. The title gives the W1 distance of each to the target.

# %%
observable_figure(figures["observables"], {**metrics["closure"], **metrics["closure_probabilities"]}).show()

# %%
rows = ["| observable | W1 floor | excess: source | calibrated | vertical | reduction (95 % lower bound) "
        "| χ²/ndf source | calibrated | vertical | null |", "|---|---|---|---|---|---|---|---|---|---|"]
for name, c in metrics["closure"].items():
    ex = lambda k: f"{c[f'w1_excess_{k}']:.4f} ± {c[f'w1_excess_{k}_err']:.4f}"  # noqa: E731
    rows.append(f"| {name} | {c['w1_null']:.4f} ± {c['w1_null_err']:.4f} | {ex('source')} | {ex('calibrated')} "
                f"| {ex('vertical')} | {c['w1_excess_reduction']:.1f}× (≥ {c['w1_excess_reduction_lower']:.1f}×) "
                f"| {c['chi2ndf_source']:.2f} | {c['chi2ndf_calibrated']:.2f} | {c['chi2ndf_vertical']:.2f} "
                f"| {c['chi2ndf_null']:.2f} |")
display(Markdown("\n".join(rows)))

# %% [markdown]
# The floor compares independent target jets, as many as the source has eval rows, with the target's
# eval rows: it is what the sample sizes allow. A calibration cannot be expected to get below it, so the
# excess over the floor is what a map can remove; the reduction is the ratio of the source's excess to
# the calibrated one, and its lower bound uses the calibrated excess's one-sided 95 % upper limit.
# Every error is a paired bootstrap: each resample of the target's eval rows is compared both with a
# resample of the sample and with a resample of the null jets, so an excess's error carries the
# floor's own fluctuation (the floor's ± above) as well as the sample's.

# %% [markdown]
# ## What we find

# %%
auc = metrics["auc"]
cal, null = auc["calibrated_vs_target"], auc["target_vs_target"]
goals = check_goals({"evaluation": metrics})
pulls = {layer: (cal[layer]["value"] - 0.5) / cal[layer]["err"] for layer in cal}
lines = [f"- calibrated vs target at **{layer}**: AUC {cal[layer]['value']:.3f} ± {cal[layer]['err']:.3f} "
         f"({pulls[layer]:+.1f} σ from 0.5); source vs target {auc['source_vs_target'][layer]['value']:.3f}; "
         f"null {null[layer]['value']:.3f} ± {null[layer]['err']:.3f}" for layer in cal]
lines += [f"- {'stricter reading' if g['stricter'] else 'goal'} *{g['goal']}* ({g['wanted']}): **{g['value']:.3f}**, "
          f"{'met' if g['met'] else '**not met**'}" for g in goals if g["met"] is not None]
display(Markdown("\n".join(lines)))

# %% [markdown]
# Read the table against the paper's claims: the paper found the calibrated $z_{128}$ still
# perfectly separable (AUC ≈ 1) while deeper layers were not. Where our calibrated $z_{128}$ AUC is
# far below 1, the residual the paper saw is not a necessary feature of latent-space transport;
# chapter 05 tests one explanation: that the paper's "first layer" is taken after its GELU, a
# distribution with a hard floor that a transport map does not respect.

# %%
build.save_numbers("04_closure", {
    "auc": {comp: {layer: {k: v[k] for k in ("value", "err", "fold_spread")} for layer, v in row.items()}
            for comp, row in auc.items()},
    "closure": {name: {k: c[k] for k in ("w1_null", "w1_excess_source", "w1_excess_calibrated", "w1_excess_vertical",
                                         "w1_excess_reduction", "w1_excess_reduction_lower", "chi2ndf_source",
                                         "chi2ndf_calibrated", "chi2ndf_vertical")}
                for name, c in metrics["closure"].items()},
    "goals": goals,
})

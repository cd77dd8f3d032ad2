"""Evaluation: does the calibrated latent close on the target? Discriminators, closure, ESS, PCA."""

from ..util.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    ".auc": ("AUC", "auc_with_error", "delong_variance", "roc_points"),
    ".calibrated": ("IdentityMap", "calibrate", "load_map"),
    ".closure": ("LLRS", "chi2_ndf", "physics_llrs", "probabilities", "w1"),
    ".comparisons": ("COMPARISONS",),
    ".config": ("DiscriminatorConfig", "EvaluateConfig", "EvaluateError", "ScanConfig"),
    ".discriminator": ("CrossFit", "combine_folds", "cross_fit", "fit_fold"),
    ".inputs": ("load_latents",),
    ".pca": ("corner_data", "fit_pca"),
    ".post_activation": ("GELU_MIN", "post_activation_study"),
    ".run": ("evaluate",),
    ".scan": ("smearing_scan",),
    ".weights": ("density_ratio_weights", "ess", "ess_fraction"),
})

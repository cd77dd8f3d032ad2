"""Evaluation: does the calibrated latent close on the target? Discriminators, closure, ESS, PCA."""

from .auc import AUC, auc_with_error, delong_variance, roc_points
from .calibrated import CALIBRATED_LAYERS, IdentityMap, calibrate, head_from, load_map, load_tagger
from .closure import LLRS, chi2_ndf, physics_llrs, probabilities, w1
from .comparisons import COMPARISONS
from .config import EvaluateConfig
from .discriminator import DiscriminatorConfig, DiscriminatorResult, train_discriminator
from .inputs import LAYERS, EvaluateError, load_latents
from .pca import corner_data, fit_pca
from .post_activation import GELU_MIN, post_activation_study
from .run import evaluate
from .scan import smearing_scan
from .weights import density_ratio_weights, ess, ess_fraction

__all__ = [
    "AUC", "CALIBRATED_LAYERS", "COMPARISONS", "DiscriminatorConfig", "DiscriminatorResult", "EvaluateConfig",
    "EvaluateError", "GELU_MIN", "IdentityMap", "LAYERS", "LLRS", "auc_with_error", "calibrate", "chi2_ndf",
    "corner_data", "delong_variance", "density_ratio_weights", "ess", "ess_fraction", "evaluate", "fit_pca",
    "head_from", "load_latents", "load_map", "load_tagger", "physics_llrs", "post_activation_study",
    "probabilities", "roc_points", "smearing_scan", "train_discriminator", "w1",
]

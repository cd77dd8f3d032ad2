"""Optimal transport with input-convex neural networks: the Brenier map source → target.

The public API: `fit` (arrays → `TransportMap`), `fit_latents` (the pipeline stage), the known-map
pairs and accuracy metrics used to validate the solver.
"""

from .config import TransportConfig, TransportError, transport_config
from .fit import check_samples, fit, fit_latents
from .icnn import ICNN, ICNNConfig
from .init import bures_map, gaussian_map_from_samples
from .known_maps import KnownPair, gaussian_pair, make_pair, ridge_pair
from .map import TransportMap
from .metrics import l2_uvp, linear_fit_map, sinkhorn_divergence, w2_exact, w2_gaussian
from .train import DivergenceWarning
from .validation import KnownMapResult, check_known_map, fit_known_maps, load_known_maps

__all__ = [
    "fit", "fit_latents", "TransportMap", "TransportConfig", "TransportError", "DivergenceWarning", "transport_config",
    "check_samples", "ICNN", "ICNNConfig", "bures_map", "gaussian_map_from_samples", "KnownPair", "gaussian_pair",
    "ridge_pair", "make_pair", "KnownMapResult", "check_known_map", "fit_known_maps", "load_known_maps", "l2_uvp",
    "linear_fit_map", "sinkhorn_divergence", "w2_exact", "w2_gaussian",
]

"""Optimal transport with input-convex neural networks: the Brenier map source → target.

The public API: `fit` (arrays → `TransportMap`), `fit_latents` (the pipeline stage), the known-map
pairs and accuracy metrics used to validate the solver.
"""

from ..util.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    ".config": ("KnownMapsConfig", "TransportConfig", "TransportError", "transport_config"),
    ".coords": ("check_samples",),
    ".fitting": ("fit", "fit_latents"),
    ".icnn": ("ICNN", "ICNNConfig"),
    ".init": ("bures_map", "gaussian_map_from_samples"),
    ".known_maps": ("KnownPair", "gaussian_pair", "make_pair", "ridge_pair"),
    ".map": ("TransportMap",),
    ".oracle": ("fit_oracle",),
    ".metrics": ("l2_uvp", "linear_fit_map", "sinkhorn_divergence", "w2_exact", "w2_gaussian"),
    ".train": ("DivergenceWarning",),
    ".validation": ("KnownMapResult", "check_known_map", "fit_known_maps", "load_known_maps"),
})

"""Latent geometry: correlation dimension against scale, jet EMDs, local dimension, and the transport.

After J. H. Collins, "The learnt geometry of collider events" (arXiv:2109.10919): how many
directions does a sample really spread in, at each scale Q, in the tagger's latent space and in
the space of jets under the energy mover's distance; and does the calibration move points, or
leave mismatch, where the latent is thin? Every function is pure: arrays in, arrays or small
dataclasses (with ``as_dict``) out.
"""

from ..util.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "._inputs": ("GeometryError",),
    ".config": ("GeometryConfig",),
    ".constituents": ("jet_constituents",),
    ".correlation": ("CorrelationDimension", "correlation_dimension", "pair_distances", "q_grid"),
    ".displacement": ("DisplacementSummary", "displacement_by_local_dimension"),
    ".emd": ("JET_R", "as_jet", "emd", "ground_distance", "pairwise_emd", "sinkhorn_emd", "sinkhorn_vs_exact"),
    ".local_dim": ("LocalDimension", "local_dimension"),
    ".study": ("geometry_study",),
})

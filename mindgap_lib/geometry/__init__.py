"""Latent geometry: correlation dimension against scale, jet EMDs, local dimension, and the transport.

After J. H. Collins, "The learnt geometry of collider events" (arXiv:2109.10919): how many
directions does a sample really spread in, at each scale Q, in the tagger's latent space and in
the space of jets under the energy mover's distance; and does the calibration move points, or
leave mismatch, where the latent is thin? Every function is pure: arrays in, arrays or small
dataclasses (with ``as_dict``) out.
"""

from ._inputs import GeometryError
from .constituents import jet_constituents
from .correlation import CorrelationDimension, correlation_dimension, pair_distances, q_grid
from .displacement import DisplacementSummary, displacement_by_local_dimension
from .emd import JET_R, as_jet, emd, ground_distance, pairwise_emd, sinkhorn_emd, sinkhorn_vs_exact
from .local_dim import LocalDimension, local_dimension

__all__ = [
    "CorrelationDimension", "DisplacementSummary", "GeometryError", "JET_R", "LocalDimension", "as_jet",
    "correlation_dimension", "displacement_by_local_dimension", "emd", "ground_distance", "jet_constituents",
    "local_dimension", "pair_distances", "pairwise_emd", "q_grid", "sinkhorn_emd", "sinkhorn_vs_exact",
]

"""The ``[geometry]`` profile section: sizes of chapter 07's correlation-dimension and EMD studies."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ProfileError
from ..util.sections import Section

__all__ = ["GeometryConfig"]


@dataclass(frozen=True)
class GeometryConfig(Section):
    """Sizes of the latent-geometry study (cost grows as points² for dim(Q), as jets² × 0.4 ms for EMD)."""

    SECTION = "geometry"
    points: int = 3000                 # latents per sample for dim(Q) (pairs: points²/2)
    n_boot: int = 100                  # bootstrap resamples (over points) of dim(Q)
    q_lo: float = 1e-3                 # Q grid: from this quantile of the pair distances ...
    q_hi: float = 0.5                  # ... to this one,
    q_num: int = 25                    # log-spaced points
    classes: tuple[str, ...] = ("QCD", "Hbb", "Tbqq")  # tagger test jets per class: dim(Q) of each class's latent
    emd_jets: int = 400                # QCD jets in the exact-EMD matrix (jets²/2 pairs)
    emd_class_jets: int = 150          # jets per class in the per-class EMD matrices
    sinkhorn_pairs: int = 10           # jet pairs on which Sinkhorn is compared with the exact EMD
    sinkhorn_eps: tuple[float, ...] = (0.1, 0.03, 0.01, 0.003)
    local_k: int = 20                  # neighbours of the local (Levina-Bickel) dimension
    max_particles: int = 64            # hardest constituents per jet in the EMD

    def check(self) -> None:
        for name in ("points", "emd_jets", "emd_class_jets", "local_k", "q_num", "max_particles"):
            if getattr(self, name) < 2:
                raise ProfileError(f"[geometry] {name} must be >= 2, got {getattr(self, name)}")
        if not 0 < self.q_lo < self.q_hi < 1:
            raise ProfileError(f"[geometry] need 0 < q_lo < q_hi < 1, got {self.q_lo}, {self.q_hi}")
        if self.n_boot < 0 or self.sinkhorn_pairs < 1 or not self.sinkhorn_eps or min(self.sinkhorn_eps) <= 0:
            raise ProfileError("[geometry] n_boot >= 0, sinkhorn_pairs >= 1 and positive sinkhorn_eps needed")
        from ..jetclass.schema import CLASSES

        unknown = sorted(set(self.classes) - set(CLASSES))
        if unknown:
            raise ProfileError(f"[geometry] classes: unknown {', '.join(unknown)} (known: {', '.join(CLASSES)})")

"""The paper's jet tagger: a class-token transformer over particles, jet features by FiLM, MLP head.

The head exposes the latents the calibration works on: ``z128`` (first head layer, before its
activation), ``z128_post``, ``penultimate`` (input of the output layer) and ``logits``.
There is no positional encoding and attention is masked, so the output is invariant under
permutations of the particles and under extra padding.
"""

from __future__ import annotations

from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ..jetclass.schema import CLASSES
from .config import Layers, TaggerConfig, layers_of
from .features import JET_FEATURES, PARTICLE_FEATURES, InputTransform

__all__ = ["Embed", "Attention", "GLU", "Block", "Head", "Tagger"]


class Embed(nn.Module):
    """Per-particle MLP from the standardised features to the model width: (B, N, F) -> (B, N, D)."""

    def __init__(self, in_dim: int, dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, dim), nn.GELU(), nn.Linear(dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Attention(nn.Module):
    """Multi-head self-attention with one fused QKV projection and PyTorch's SDPA kernels.

    Dropout acts on the block's residual branches, not on the attention weights: SDPA with
    ``dropout_p > 0`` leaves its fused CPU kernel and runs 2-25x slower there.
    """

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)  # (B, H, N, d/H)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class GLU(nn.Module):
    """Gated MLP: (GELU(x W_a) * x W_b) W_o with hidden width ``ratio * dim``."""

    def __init__(self, dim: int, ratio: int, dropout: float):
        super().__init__()
        self.inp = nn.Linear(dim, 2 * ratio * dim)
        self.out = nn.Linear(ratio * dim, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.inp(x).chunk(2, dim=-1)
        return self.out(self.drop(F.gelu(a) * b))


class Block(nn.Module):
    """Pre-norm encoder block; both norms are modulated by FiLM of the jet features.

    FiLM: ``gamma * LN(x) + beta`` with (gamma, beta) affine in the jet embedding. It replaces
    the norms' own affine parameters and starts as the identity (gamma = 1, beta = 0).
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: int, dropout: float):
        super().__init__()
        self.attn = Attention(dim, num_heads)
        self.mlp = GLU(dim, mlp_ratio, dropout)
        self.drop = nn.Dropout(dropout)
        self.film = nn.Linear(dim, 4 * dim)
        nn.init.zeros_(self.film.weight)
        with torch.no_grad():
            self.film.bias.copy_(torch.tensor([1.0, 0.0, 1.0, 0.0]).repeat_interleave(dim))

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None, cond: torch.Tensor) -> torch.Tensor:
        g1, b1, g2, b2 = self.film(cond).unsqueeze(1).chunk(4, dim=-1)  # each (B, 1, D)
        shape = x.shape[-1:]
        x = x + self.drop(self.attn(torch.addcmul(b1, F.layer_norm(x, shape), g1), attn_mask))
        return x + self.drop(self.mlp(torch.addcmul(b2, F.layer_norm(x, shape), g2)))


class Head(nn.Module):
    """MLP head: ``head_layers`` linear layers of ``width`` with GELU, then the logits layer.

    Its layer names (:attr:`names`) come from its width: ``z128`` / ``z128_post`` for 128.
    """

    def __init__(self, dim: int, width: int, layers: int, num_classes: int):
        super().__init__()
        self.names: Layers = layers_of(width)
        self.layers = nn.ModuleList([nn.Linear(dim if i == 0 else width, width) for i in range(layers)])
        self.out = nn.Linear(width, num_classes)

    def from_layer(self, name: str, h: torch.Tensor) -> dict[str, torch.Tensor]:
        """The frozen rest of the head applied to a (possibly calibrated) latent of layer `name`:
        ``penultimate`` and ``logits``. `name` is :attr:`names` ``.z`` (before the first GELU) or ``.z_post``."""
        if name == self.names.z:
            h = F.gelu(h)
        elif name != self.names.z_post:
            raise ValueError(f"head: cannot continue from layer {name!r} (one of {self.names.calibratable})")
        for layer in self.layers[1:]:
            h = F.gelu(layer(h))
        return {self.names.penultimate: h, self.names.logits: self.out(h)}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.layers[0](x)
        return {self.names.z: z, self.names.z_post: F.gelu(z), **self.from_layer(self.names.z, z)}


class Tagger(nn.Module):
    """Class-token transformer jet tagger.

    A batch is a mapping with ``particles`` (B, N, 17), ``mask`` (B, N) bool (True = real
    particle) and ``jets`` (B, 5), as made by :meth:`mindgap_lib.tagger.features.Features.batch`.
    """

    def __init__(self, config: TaggerConfig, input_transform: InputTransform | None = None):
        super().__init__()
        self.config = config
        self.input_transform = input_transform  # raw particle columns -> model inputs (stored with the weights)
        d = config.dim
        self.embed = Embed(len(PARTICLE_FEATURES), d)
        self.jet_embed = nn.Sequential(nn.Linear(len(JET_FEATURES), d), nn.GELU())
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.blocks = nn.ModuleList([Block(d, config.num_heads, config.mlp_ratio, config.dropout)
                                     for _ in range(config.num_layers)])
        self.norm = nn.LayerNorm(d)
        self.head = Head(d, config.head_width, config.head_layers, len(CLASSES))

    def encode(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The class token after the encoder: (B, D)."""
        x, mask = batch["particles"], batch["mask"]
        b = x.shape[0]
        x = torch.cat([self.cls_token.expand(b, -1, -1), self.embed(x)], dim=1)  # (B, 1+N, D)
        keys = torch.cat([mask.new_ones(b, 1), mask], dim=1)
        attn_mask = None if bool(keys.all()) else keys[:, None, None, :]  # (B, 1, 1, 1+N): no mask lets SDPA use its fastest kernel
        cond = self.jet_embed(batch["jets"])
        for block in self.blocks:
            x = block(x, attn_mask, cond)
        return self.norm(x[:, 0])

    def latents(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Every layer of :attr:`Head.names` (``z128``, ``z128_post``, ``penultimate``, ``logits``), each (B, .)."""
        return self.head(self.encode(batch))

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.latents(batch)["logits"]

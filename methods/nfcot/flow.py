"""Shallow flow F: a stack of TARFlow/STARFlow MetaBlocks over the K latent slots.

Each MetaBlock is an affine autoregressive transform along the slot axis:
  x (B, K, D) -> [permute] -> causal transformer -> params shifted right by one
  -> (a, b) -> scale = softplus(a + SOFTPLUS_ONE) -> z = (x - b) / scale -> [un-permute]
The shift makes the parameters at slot t depend on slots < t only, so the Jacobian is block
triangular and log|det| = -sum log scale. Even blocks keep the slot order, odd blocks reverse it.
The output projection starts at zero, so every block (and F) starts as the identity.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SOFTPLUS_ONE = math.log(math.e - 1.0)  # softplus(SOFTPLUS_ONE) == 1: scale 1 at a = 0


class CausalLayer(nn.Module):
    """Pre-norm transformer layer with causal self-attention."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, w = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.out(att.transpose(1, 2).reshape(b, t, w))
        return x + self.mlp(self.norm2(x))


class MetaBlock(nn.Module):
    """One affine autoregressive flow step over the slot sequence, optionally conditioned."""

    def __init__(self, dim: int, slots: int, width: int, layers: int, heads: int,
                 flip: bool, cond_dim: int = 0):
        super().__init__()
        self.flip = flip
        self.proj_in = nn.Linear(dim, width)
        self.pos = nn.Parameter(torch.randn(slots, width) * 0.02)
        self.cond = nn.Linear(cond_dim, width) if cond_dim else None
        self.layers = nn.ModuleList(CausalLayer(width, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        self.proj_out = nn.Linear(width, 2 * dim)
        nn.init.zeros_(self.proj_out.weight)  # identity map at initialisation
        nn.init.zeros_(self.proj_out.bias)

    def _permute(self, x: torch.Tensor) -> torch.Tensor:
        return x.flip(1) if self.flip else x  # a flip is its own inverse

    def _params(self, x: torch.Tensor, cond: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(scale, shift) for every slot of permuted x, each from the slots before it only."""
        h = self.proj_in(x) + self.pos[: x.shape[1]]
        if self.cond is not None and cond is not None:
            h = h + self.cond(cond)[:, None, :]
        for layer in self.layers:
            h = layer(h)
        p = self.proj_out(self.norm(h))
        p = torch.cat([torch.zeros_like(p[:, :1]), p[:, :-1]], dim=1)  # shift right by one
        a, b = p.chunk(2, dim=-1)
        return F.softplus(a + SOFTPLUS_ONE), b

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x -> (z, log|det dz/dx|) with the log-det per sample, shape (B,)."""
        xp = self._permute(x)
        scale, shift = self._params(xp, cond)
        z = (xp - shift) / scale
        return self._permute(z), -scale.log().sum(dim=(1, 2))

    @torch.no_grad()
    def reverse(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """z -> x, slot by slot: slot t's parameters need the already inverted slots < t."""
        zp = self._permute(z)
        xp = torch.zeros_like(zp)
        for t in range(zp.shape[1]):
            scale, shift = self._params(xp[:, : t + 1], cond)
            xp[:, t] = zp[:, t] * scale[:, t] + shift[:, t]
        return self._permute(xp)


class ShallowFlow(nn.Module):
    """F: e (B, K, D) -> u, alternating identity and reversed slot order between blocks."""

    def __init__(self, dim: int, slots: int, blocks: int, width: int, layers: int, heads: int,
                 cond_dim: int = 0):
        super().__init__()
        self.blocks = nn.ModuleList(
            MetaBlock(dim, slots, width, layers, heads, flip=i % 2 == 1, cond_dim=cond_dim)
            for i in range(blocks))

    def forward(self, e: torch.Tensor, cond: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        logdet = e.new_zeros(e.shape[0])
        for block in self.blocks:
            e, ld = block(e, cond)
            logdet = logdet + ld
        return e, logdet

    @torch.no_grad()
    def reverse(self, u: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        for block in reversed(self.blocks):
            u = block.reverse(u, cond)
        return u

"""NF head and projections: how latent positions enter and leave the backbone's causal stream.

The NF head reads the hidden state of the position before latent i and gives the Gaussian
(mu_i, sigma_i) of u_i (the deep flow's autoregressive prior); `LatentIn` maps u_i to the input
embedding of its own position. `<bot>` and `<eot>` are learned input embeddings, so the backbone's
tokenizer and vocabulary stay untouched.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from nfbench.methods.nfcot.flow import SOFTPLUS_ONE

LOG_2PI = math.log(2 * math.pi)


def gaussian_logp(u: torch.Tensor, mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """log N(u; mu, diag sigma^2), summed over the last axis."""
    z = (u - mu) / sigma
    return (-0.5 * z.pow(2) - sigma.log() - 0.5 * LOG_2PI).sum(-1)


class NFHead(nn.Module):
    """hidden (.., H) -> mu (.., D), sigma (.., D); starts at the standard normal (mu 0, sigma 1)."""

    def __init__(self, hidden: int, dim: int, width: int, min_sigma: float = 1e-3):
        super().__init__()
        self.min_sigma = min_sigma
        self.net = nn.Sequential(nn.Linear(hidden, width), nn.GELU(), nn.Linear(width, 2 * dim))
        nn.init.zeros_(self.net[-1].weight)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        first = self.net[0].weight
        mu, a = self.net(h.to(first.dtype)).float().chunk(2, dim=-1)  # the density in float32 even under bf16
        return mu, F.softplus(a + SOFTPLUS_ONE) + self.min_sigma


class StreamEmbeddings(nn.Module):
    """Inputs of the non-text positions: proj(u_i) for latents, learned <bot> / <eot> vectors."""

    def __init__(self, dim: int, hidden: int, init_std: float):
        super().__init__()
        self.latent_in = nn.Linear(dim, hidden)
        self.bot = nn.Parameter(torch.randn(hidden) * init_std)
        self.eot = nn.Parameter(torch.randn(hidden) * init_std)

    def latents(self, u: torch.Tensor) -> torch.Tensor:
        return self.latent_in(u.to(self.latent_in.weight.dtype))

    def marker(self, which: str, batch: int) -> torch.Tensor:
        """(B, 1, H) copies of <bot> or <eot>."""
        vec = self.bot if which == "bot" else self.eot
        return vec.view(1, 1, -1).expand(batch, 1, -1)

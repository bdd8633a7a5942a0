"""A latent token is a superposition over the vocabulary: softmax(top-k(h U^T)) @ W_topk.

U scores the vocabulary (`LatentSFTConfig.superposition_scores`): by default the LM head, whose softmax
is the distribution the model itself reads tokens with (and what stage 2's student is trained to
reproduce); or the input embeddings U = W, the reference's `h @ W^T`. With tied embeddings the two are
the same; with an untied backbone, h @ W_in^T scores h against vectors it was never trained to match.
W is the (detached) input-embedding matrix, so a latent always lies in the span of token embeddings;
gradients reach h (the encoder / the LLM) but never move the vocabulary itself through this path.
Distributions are kept sparse as (probs [..., k], ids [..., k]); `top_k <= 0` means the whole vocabulary.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def topk_distribution(logits: torch.Tensor, top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Renormalised top-k of a logit vector: (probs [..., k], ids [..., k]), probs in float32."""
    V = logits.shape[-1]
    if 0 < top_k < V:
        top, ids = torch.topk(logits.float(), top_k, dim=-1)
    else:
        top = logits.float()
        ids = torch.arange(V, device=logits.device).expand_as(top)
    return torch.softmax(top, dim=-1), ids


def mix(probs: torch.Tensor, ids: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """sum_i probs_i * W[ids_i]: the soft embedding of a sparse distribution."""
    W = W.detach()
    return torch.einsum("...k,...kh->...h", probs.to(W.dtype), F.embedding(ids, W))


def superpose(h: torch.Tensor, W: torch.Tensor, top_k: int,
              head: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Final hidden states h [..., H] -> (latent embeddings [..., H], probs [..., k], ids [..., k]).

    head: the LM-head matrix U [V, H] that scores the vocabulary (None: U = W, a tied model)."""
    W = W.detach()
    U = W if head is None else head.detach()
    probs, ids = topk_distribution(h.to(U.dtype) @ U.T, top_k)
    return mix(probs, ids, W), probs, ids


def sparse_kl(student_logits: torch.Tensor, probs: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Mean over rows of KL(q || p): q the teacher's sparse top-k distribution, p = softmax(student).

    q is zero outside its support, so the sum runs over the k teacher ids only (no dense [V] targets).
    """
    logp = torch.log_softmax(student_logits.float(), dim=-1).gather(-1, ids)
    q = probs.float()
    q = q / q.sum(-1, keepdim=True).clamp_min(1e-12)
    kl = (q * (q.clamp_min(1e-12).log() - logp)).sum(-1)
    return kl.mean() if kl.numel() else student_logits.sum() * 0.0

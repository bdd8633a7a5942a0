"""Readable views of latent thoughts, recorded per sample at generation time (`nfbench inspect` and the
report only read them back): for each latent step, the few vocabulary tokens that best describe it,
with a weight whose meaning the view names.

Views (each a list over latent steps of [token text, weight] lists, best first):
  lm_head    softmax of the LM head over the step's hidden state: what the model would have said there
  embedding  cosine similarity of the fed vector to each input embedding: which token it resembles
  mixture    the weights of the tokens a soft latent is mixed from (Soft Thinking, Latent-SFT): exact
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch-free at import, like the method modules that record these views
    import torch

READOUT_TOKENS = 5  # tokens kept per latent step and view


def token_list(tokenizer: Any, ids: list[int], weights: list[float], ndigits: int = 4) -> list[list[Any]]:
    """k ids and weights -> [[token text, weight], ...] (the text as the tokenizer decodes that id alone)."""
    return [[tokenizer.decode([int(i)]), round(float(w), ndigits)] for i, w in zip(ids, weights)]


def lm_head_view(tokenizer: Any, logits: torch.Tensor, k: int = READOUT_TOKENS) -> list[list[list[Any]]]:
    """[B, V] logits -> per row the top-k tokens with their probabilities."""
    probs, ids = logits.float().softmax(-1).topk(k, -1)
    return [token_list(tokenizer, i, p) for i, p in zip(ids.tolist(), probs.tolist())]


def embedding_view(tokenizer: Any, vectors: torch.Tensor, embeddings: torch.Tensor,
                   k: int = READOUT_TOKENS) -> list[list[list[Any]]]:
    """[B, D] vectors -> per row the k input embeddings nearest in cosine similarity, with it."""
    import torch
    v = torch.nn.functional.normalize(vectors.float(), dim=-1)
    w = torch.nn.functional.normalize(embeddings.detach().float(), dim=-1)
    sims, ids = (v @ w.T).topk(k, -1)
    return [token_list(tokenizer, i, s) for i, s in zip(ids.tolist(), sims.tolist())]

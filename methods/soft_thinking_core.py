"""Soft Thinking's reasoning phase (training-free): instead of sampling a token, each step feeds the
probability-weighted mixture of token embeddings (a "concept token") back into the model.

A sample stops thinking when the most likely token is the end-of-thinking token, or when the
distribution's entropy stays below a threshold for `patience` consecutive steps ("Cold Stop"), or
at `max_steps`. Stopped samples idle on masked positions (attention mask 0, position not advanced),
which the attention ignores exactly, so the batch stays in one KV cache.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from nfbench.harness.cost import CostMeter
from nfbench.harness.generation import DecodeState, step


@dataclass
class SoftStepResult:
    steps: torch.Tensor  # (B,) concept tokens fed per sample
    stopped_by: list[str]  # "end_token" | "entropy" | "max_steps"
    top_tokens: list[list[int]]  # per sample, the argmax token of each concept (a readable summary)
    mean_entropy: list[float]
    support: list[float]  # mean number of tokens with non-zero weight per concept
    mixtures: list[list[tuple[list[int], list[float]]]]  # per sample and concept: its heaviest tokens and weights


def concept_weights(logits: torch.Tensor, temperature: float, top_k: int, top_p: float,
                    min_p: float = 0.0) -> torch.Tensor:
    """Renormalised probabilities over the top-k / top-p / min-p tokens, zero elsewhere (B, V)."""
    probs = torch.softmax(logits.float() / max(temperature, 1e-6), -1)
    if min_p > 0:  # drop tokens below min_p x the most likely one
        probs = torch.where(probs >= min_p * probs.max(-1, keepdim=True).values, probs, torch.zeros_like(probs))
    if 0 < top_k < probs.shape[-1]:
        kept = torch.zeros_like(probs).scatter(-1, probs.topk(top_k, -1).indices, 1.0)
        probs = probs * kept  # exactly k tokens, ties broken by index
    if top_p < 1.0:
        sorted_p, order = probs.sort(-1, descending=True)
        before = sorted_p.cumsum(-1) - sorted_p  # mass of strictly more likely tokens
        keep = torch.zeros_like(probs, dtype=torch.bool).scatter(-1, order, before < top_p)
        probs = torch.where(keep, probs, torch.zeros_like(probs))
    return probs / probs.sum(-1, keepdim=True)


def entropy(logits: torch.Tensor) -> torch.Tensor:
    logp = torch.log_softmax(logits.float(), -1)
    return -(logp.exp() * logp).sum(-1)


@torch.no_grad()
def soft_think(model, state: DecodeState, logits: torch.Tensor, *, end_id: int, max_steps: int,
               temperature: float = 0.6, top_k: int = 10, top_p: float = 0.95, min_p: float = 0.001,
               entropy_threshold: float = 0.01, patience: int = 256,
               meter: CostMeter | None = None, keep: int = 5) -> SoftStepResult:
    """Run the concept-token loop in `state` from `logits` (B, V) of the last prompt position.

    Stopped rows idle on masked positions. The caller then feeds `end_id` and decodes the answer.
    Each concept's `keep` heaviest tokens and weights are kept (a readable record of what was fed).
    """
    emb = model.get_input_embeddings().weight
    batch = logits.shape[0]
    active = torch.ones(batch, dtype=torch.bool, device=logits.device)
    low_run = torch.zeros(batch, dtype=torch.long, device=logits.device)
    steps = torch.zeros(batch, dtype=torch.long, device=logits.device)
    stopped_by = ["max_steps"] * batch
    tops: list[list[int]] = [[] for _ in range(batch)]
    mixtures: list[list[tuple[list[int], list[float]]]] = [[] for _ in range(batch)]
    ent_sum = torch.zeros(batch, device=logits.device)
    support_sum = torch.zeros(batch, device=logits.device)
    for _ in range(max_steps):
        ent = entropy(logits)
        low_run = torch.where(ent < entropy_threshold, low_run + 1, torch.zeros_like(low_run))
        top = logits.argmax(-1)
        for b in torch.nonzero(active & ((top == end_id) | (low_run >= patience))).flatten().tolist():
            active[b] = False
            stopped_by[b] = "end_token" if int(top[b]) == end_id else "entropy"
        if not active.any():
            break
        weights = concept_weights(logits, temperature, top_k, top_p, min_p)
        heavy_w, heavy_ids = weights.topk(min(keep, weights.shape[-1]), -1)
        for b in torch.nonzero(active).flatten().tolist():
            tops[b].append(int(top[b]))
            kept = heavy_w[b] > 0
            mixtures[b].append((heavy_ids[b][kept].tolist(), heavy_w[b][kept].tolist()))
            if meter is not None:
                meter.count(b)
        zero = torch.zeros_like(ent)
        ent_sum += torch.where(active, ent, zero)
        support_sum += torch.where(active, (weights > 0).sum(-1).float(), zero)
        steps += active.long()
        x = (weights.to(emb.dtype) @ emb)[:, None]
        out = step(model, state, inputs_embeds=x, new_mask=active[:, None], meter=meter)
        # idle rows keep their logits: their next real input is the end-of-thinking token
        logits = torch.where(active[:, None], out.logits, logits)
    n = steps.clamp(min=1).float()
    return SoftStepResult(steps=steps, stopped_by=stopped_by, top_tokens=tops,
                          mean_entropy=(ent_sum / n).tolist(), support=(support_sum / n).tolist(), mixtures=mixtures)

"""Latent-SFT inference: batched, one KV cache for latents and answer.

After `prompt <think>`, each step's argmax is used only to detect `</think>` (or the step budget runs
out); otherwise the next input is the top-k soft embedding of that step's distribution. Rows then feed
`</think>` and decode their answer token by token in the same batched loop (rows may be in different
phases at one step), so nothing is recomputed.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from transformers import DynamicCache

from nfbench.methods.latent_sft.superposition import mix, topk_distribution


@dataclass
class Decoded:
    latent_probs: list[torch.Tensor] = field(default_factory=list)  # per latent step: [k]
    latent_ids: list[torch.Tensor] = field(default_factory=list)  # per latent step: [k]
    answer: list[int] = field(default_factory=list)
    forward_passes: int = 0
    reasoning_seconds: float = 0.0
    answer_seconds: float = 0.0


def _sample(logits: torch.Tensor, temperature: float, top_p: float, gen: torch.Generator | None) -> torch.Tensor:
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, -1)
    if top_p < 1.0:
        sorted_p, order = probs.sort(-1, descending=True)
        drop = sorted_p.cumsum(-1) - sorted_p > top_p
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p.masked_fill(drop, 0.0))
    return torch.multinomial(probs.cpu(), 1, generator=gen).squeeze(-1).to(logits.device)


@torch.no_grad()
def generate(model, prompts: list[list[int]], *, think: int, end_think: int, eos: int, pad: int,
             top_k: int, max_latents: int, max_new_tokens: int, temperature: float = 0.0,
             top_p: float = 1.0, seed: int = 0) -> list[Decoded]:
    """prompts: token ids without `<think>`. Left-pads, prefills once, then steps one position per row."""
    device = model.get_input_embeddings().weight.device
    embed = model.get_input_embeddings()
    W = embed.weight
    B = len(prompts)
    rows = [p + [think] for p in prompts]
    T = max(len(r) for r in rows)
    ids = torch.tensor([[pad] * (T - len(r)) + r for r in rows], device=device)
    mask = (torch.arange(T, device=device)[None] >= torch.tensor([T - len(r) for r in rows], device=device)[:, None]).long()
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    gen = torch.Generator().manual_seed(seed) if temperature > 0 else None
    out = [Decoded() for _ in range(B)]
    LATENT, ANSWER, DONE = 0, 1, 2
    mode = [LATENT] * B
    t0 = time.perf_counter()
    res = model(input_ids=ids, attention_mask=mask, position_ids=pos, past_key_values=DynamicCache(), use_cache=True)
    cache, logits, last = res.past_key_values, res.logits[:, -1], pos[:, -1]
    for d in out:
        d.forward_passes = 1
    answer_start = [0.0] * B
    while any(m != DONE for m in mode):
        nxt = torch.empty(B, W.shape[1], dtype=W.dtype, device=device)
        greedy = logits.argmax(-1)
        sampled = _sample(logits, temperature, top_p, gen)
        probs, top = topk_distribution(logits, top_k)
        soft = mix(probs, top, W)
        now = time.perf_counter()
        for b in range(B):
            d = out[b]
            if mode[b] == LATENT:
                if int(greedy[b]) == end_think or len(d.latent_probs) >= max_latents:
                    mode[b], answer_start[b] = ANSWER, now
                    d.reasoning_seconds = now - t0
                    nxt[b] = W[end_think]
                else:
                    d.latent_probs.append(probs[b].cpu())
                    d.latent_ids.append(top[b].cpu())
                    nxt[b] = soft[b]
            elif mode[b] == ANSWER:
                tok = int(sampled[b])
                if tok == eos or len(d.answer) >= max_new_tokens:
                    mode[b] = DONE
                    d.answer_seconds = now - answer_start[b]
                else:
                    d.answer.append(tok)
                nxt[b] = W[pad] if mode[b] == DONE else W[tok]
            else:
                nxt[b] = W[pad]
        if all(m == DONE for m in mode):
            break
        mask = torch.cat([mask, torch.ones(B, 1, dtype=mask.dtype, device=device)], 1)
        last = last + 1
        res = model(inputs_embeds=nxt[:, None], attention_mask=mask, position_ids=last[:, None],
                    past_key_values=cache, use_cache=True)
        cache, logits = res.past_key_values, res.logits[:, -1]
        for b in range(B):
            if mode[b] != DONE:
                out[b].forward_passes += 1
    return out


# --- the paper's two analysis metrics, per sample ---------------------------------------------------
def effective_global_parallelism(probs: list[torch.Tensor]) -> float | None:
    """N_eff = exp(mean over latent steps of the entropy of the step's top-k distribution): how many
    vocabulary paths a latent superposes on average over the chain (1.0 = one explicit token per step)."""
    if not probs:
        return None
    H = [float(-(p * p.clamp_min(1e-12).log()).sum()) for p in probs]
    return math.exp(sum(H) / len(H))


def effective_compression_rate(latent_ids: list[torch.Tensor], reference: list[int], top: int) -> float | None:
    """ECR@top: the reference CoT (explicit path) is cut into as many equal-length segments as there are
    latents (fixed-length alignment); a reference token counts as carried when it is among its latent's
    `top` candidates. ECR = carried reference tokens per latent step (k at a lossless rate k, 0 = none)."""
    m = len(latent_ids)
    if m == 0 or not reference:
        return None
    n = len(reference)
    carried = 0
    for t, cand in enumerate(latent_ids):
        segment = reference[(t * n) // m:((t + 1) * n) // m]
        keep = set(cand[:top].tolist())
        carried += sum(tok in keep for tok in segment)
    return carried / m

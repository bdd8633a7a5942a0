"""Latent-SFT inference: batched, in one KV cache (harness/generation.py) for latents and answer.

After `prompt <think>`, each step's argmax is used only to detect `</think>` (or the step budget runs
out); otherwise the next input is the top-k soft embedding of that step's distribution. Then the
answer is decoded from the same cache by the shared `decode` loop.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from nfbench.methods.latent_sft.superposition import mix, topk_distribution


@dataclass
class Thoughts:
    """One row's latent chain: each step's top-k distribution (probs, token ids, sorted by prob)."""

    probs: list[torch.Tensor] = field(default_factory=list)
    ids: list[torch.Tensor] = field(default_factory=list)


@torch.no_grad()
def think(model, state, prompt_ids: torch.Tensor, mask: torch.Tensor, *, think_id: int, end_think_id: int,
          top_k: int, max_latents: int, meter=None) -> tuple[torch.Tensor, list[Thoughts]]:
    """Prefill `prompt <think>`, then latent steps until each row's argmax is `</think>` (or
    `max_latents` steps), feeding `</think>` itself at that point. Rows that stop early ride along
    with masked positions. Returns the logits after each row's `</think>` ([B, V]) and the chains."""
    from nfbench.harness.generation import step

    B = prompt_ids.shape[0]
    W = model.get_input_embeddings().weight
    ones = torch.ones(B, 1, dtype=torch.long, device=prompt_ids.device)
    ids = torch.cat([prompt_ids, ones * think_id], 1)
    logits = step(model, state, input_ids=ids, new_mask=torch.cat([mask, ones], 1), meter=meter, prompt=True).logits
    chains = [Thoughts() for _ in range(B)]
    answer_logits = torch.zeros_like(logits)
    thinking = [True] * B
    while any(thinking):
        probs, top = topk_distribution(logits, top_k)
        soft = mix(probs, top, W)
        # `</think>` counts as the argmax when it ties the max: argmax breaks ties to the lowest id, and a
        # `</think>` whose head row is still eos's copy (checkpoints trained with a frozen head) ties eos
        # exactly, so a plain argmax never ends thinking and the answer starts after max_latents junk latents
        ends = logits[:, end_think_id] >= logits.max(-1).values
        feeding_end = [thinking[i] and (bool(ends[i]) or len(chains[i].probs) >= max_latents) for i in range(B)]
        for i in range(B):
            if thinking[i] and not feeding_end[i]:
                chains[i].probs.append(probs[i].cpu())
                chains[i].ids.append(top[i].cpu())
                if meter is not None:
                    meter.count(i)
            elif feeding_end[i]:
                soft[i] = W[end_think_id]
        new_mask = torch.tensor([[int(t)] for t in thinking], device=ids.device)
        logits = step(model, state, inputs_embeds=soft[:, None].to(W.dtype), new_mask=new_mask, meter=meter).logits
        for i in range(B):
            if feeding_end[i]:
                thinking[i] = False
                answer_logits[i] = logits[i]
                if meter is not None:
                    meter.set_phase(i, "answer")
    return answer_logits, chains


# --- the paper's two analysis metrics, per sample ---------------------------------------------------
# The paper reads them as "compression of a single path" (ECR@K: explicit tokens a latent carries, with
# the explicit chain aligned to the latents by fixed-length segmentation) and "superposition of several
# paths" (N_eff: the effective number of vocabulary paths a latent holds, exp of its entropy). The
# reference repo's later parallelism.py scores N_eff over several explicit solutions per problem instead;
# tasks here have one ground-truth chain, so N_eff is measured on the latent distributions themselves.
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

"""Stage 2: the encoder is dropped and the LLM learns to emit the latent tokens itself.

Sequence: prompt <think> L_1..L_m </think> answer, where the slots hold the stage-1 encoder's soft
embeddings (the teacher). Loss = ce_weight * CE(</think> + answer) + kl_weight * KL(teacher top-k
distribution of L_j || the LLM's distribution at the position before L_j).
"""
from __future__ import annotations

import torch
from torch import nn

from nfbench.methods.latent_sft.masks import LATENT
from nfbench.methods.latent_sft.stage1 import Stage1, ce_loss
from nfbench.methods.latent_sft.sequences import Example, SpecialIds, encoder_ids, pad_ids
from nfbench.methods.latent_sft.superposition import mix, sparse_kl

Teacher = tuple[torch.Tensor, torch.Tensor]  # (probs [m, k], ids [m, k]) of one example's latents


@torch.no_grad()
def teacher_latents(stage1: Stage1, examples: list[Example], sp: SpecialIds, k: int, top_k: int,
                    batch_size: int = 32) -> list[Teacher]:
    """The encoder's top-k latent distributions for every example (stage-2 soft labels)."""
    stage1.eval()
    device = stage1.vocab().device
    out: list[Teacher] = []
    for i in range(0, len(examples), batch_size):
        part = examples[i:i + batch_size]
        ids, lengths = pad_ids([encoder_ids(ex, sp, k) for ex in part], sp.pad)
        _, probs, top = stage1.encode(ids.to(device), lengths.to(device), sp.compress, top_k)
        counts = [(len(ex.cot) + k - 1) // k for ex in part]
        out += [(p.cpu(), t.cpu()) for p, t in zip(probs.split(counts), top.split(counts))]
    return out


def collapse_stats(teachers: list[Teacher]) -> dict[str, float]:
    """Mean per-example N_eff of the teacher latents and how many distinct top-1 tokens they use:
    a collapsed encoder writes the same few tokens with near-uniform weights (N_eff -> top_k)."""
    from nfbench.methods.latent_sft.decode import effective_global_parallelism

    n_eff = [effective_global_parallelism(list(p)) for p, _ in teachers]
    n_eff = [x for x in n_eff if x is not None]
    top1 = {int(ids[0]) for _, t in teachers for ids in t}
    return {"teacher_n_eff": sum(n_eff) / max(len(n_eff), 1), "teacher_distinct_top1": len(top1)}


def stage2_loss(model: nn.Module, batch: dict[str, torch.Tensor], teachers: list[Teacher],
                ce_weight: float, kl_weight: float) -> tuple[torch.Tensor, dict[str, float]]:
    W = model.get_input_embeddings().weight
    embeds = model.get_input_embeddings()(batch["ids"])
    slots = batch["role"] == LATENT
    probs = torch.cat([p for p, _ in teachers]).to(W.device)
    top = torch.cat([t for _, t in teachers]).to(W.device)
    embeds = embeds.masked_scatter(slots[..., None], mix(probs, top, W).to(embeds.dtype))
    valid = (torch.arange(batch["ids"].shape[1], device=W.device)[None] < batch["lengths"].to(W.device)[:, None])
    logits = model(inputs_embeds=embeds, attention_mask=valid.long()).logits
    ce = ce_loss(logits, batch["labels"])
    before_slot = torch.roll(slots, -1, dims=1)  # position t predicts slot t+1 (slots never start a row)
    kl = sparse_kl(logits[before_slot], probs, top)
    return ce_weight * ce + kl_weight * kl, {"ce": ce.item(), "kl": kl.item()}

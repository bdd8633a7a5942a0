"""Latent-SFT's batched training forwards equal a naive re-implementation written from the paper.

nfbench computes stage 1 in two batched passes (the encoder under the induction mask, the decoder under
the supervision mask, both as 4-D attention masks over padded batches, with dual-track position ids)
and stage 2 in one padded pass. The naive versions below take one example at a time, build its
sequences from the paper's description, and use only plain causal HF forwards:

  - encoder: each compress token C_j sees the text before it and itself, never an earlier compress
    token, so its state is a plain forward over [the text before C_j, C_j] at their original positions;
  - decoder: the latents, `</think>` and the answer see the prefix and the latents (no spacer), at the
    positions they have in stage 2, so one plain forward over `prompt <think> L_1..L_n </think> answer`
    gives all their predictions; spacer chunk S_{j+1} sees only L_j and itself, so it is fed after a
    cache holding L_j's keys and values alone, counting on from L_j's position;
  - stage 2: one plain forward per example, CE on `</think>` + answer, KL(teacher || student) at the
    position before each latent slot.

Loss and every parameter's gradient must agree (tests/equivalence.py: to float32 rounding).
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from equivalence import BACKBONES, assert_same_loss_and_grads
from transformers import DynamicCache, PreTrainedModel

from nfbench.methods.latent_sft.sequences import Example, SpecialIds, stage1_batch, stage2_batch
from nfbench.methods.latent_sft.stage1 import Stage1
from nfbench.methods.latent_sft.stage2 import stage2_loss

THINK, END, COMPRESS, PAD, EOS = 90, 91, 92, 0, 1
SP = SpecialIds(think=THINK, end_think=END, compress=COMPRESS, pad=PAD)
K = 2  # compression rate
# different prompt / CoT / answer lengths (padding), CoTs that do not divide by K (a short last chunk), and
# a spacer chunk of K tokens after a later latent (where its position ids matter)
EXAMPLES = [Example([10, 11, 12], [20, 21, 22, 23, 24, 25, 26], [30, 31, EOS]),
            Example([13], [25, 26, 27, 28], [32, EOS]),
            Example([14, 15], [29], [33, 34, 35, EOS])]


# --- the naive versions -------------------------------------------------------------------------
def naive_superposition(h: torch.Tensor, scores: torch.Tensor, W: torch.Tensor, top_k: int) -> torch.Tensor:
    """softmax(top-k(h U^T)) @ W[top-k], W detached (the vocabulary never moves through a latent)."""
    top, ids = torch.topk(h @ scores.detach().T, top_k)
    p = torch.softmax(top, -1)
    return sum(p[i] * W.detach()[ids[i]] for i in range(top_k))


def naive_latents(stage1: Stage1, ex: Example, scores: str, top_k: int) -> list[torch.Tensor]:
    """One latent per CoT chunk: the encoder's state at C_j, from the text before it (at its
    original positions) and C_j itself."""
    seq = ex.prompt + [THINK]
    for i in range(0, len(ex.cot), K):
        seq += ex.cot[i:i + K] + [COMPRESS]
    W = stage1.decoder.get_input_embeddings().weight
    U = stage1.decoder.get_output_embeddings().weight if scores == "head" else W
    latents = []
    for c in [i for i, t in enumerate(seq) if t == COMPRESS]:
        keep = [i for i in range(c) if seq[i] != COMPRESS] + [c]
        out = stage1.encoder(input_ids=torch.tensor([[seq[i] for i in keep]]), position_ids=torch.tensor([keep]),
                             output_hidden_states=True)
        latents.append(naive_superposition(out.hidden_states[-1][0, -1], U, W, top_k))
    return latents


def naive_stage1_ce(stage1: Stage1, ex: Example, scores: str, top_k: int) -> tuple[torch.Tensor, int]:
    """Summed CE of one example's decoder targets (S_2..S_n, `</think>`, answer) and their count."""
    dec = stage1.decoder
    emb = dec.get_input_embeddings()
    latents = naive_latents(stage1, ex, scores, top_k)
    chunks = [ex.cot[i:i + K] for i in range(0, len(ex.cot), K)]
    n, p = len(latents), len(ex.prompt) + 1
    tail = [END] + ex.answer
    # the stage-2 layout: prefix, latents, </think>, answer at consecutive positions
    x = torch.cat([emb(torch.tensor(ex.prompt + [THINK])), torch.stack(latents), emb(torch.tensor(tail))])[None]
    out = dec(inputs_embeds=x, use_cache=True)
    logits, cache = out.logits[0], out.past_key_values
    ce, count = torch.zeros((), dtype=torch.float64), 0

    def add(logit_rows: torch.Tensor, targets: list[int]) -> None:
        nonlocal ce, count
        ce = ce + F.cross_entropy(logit_rows, torch.tensor(targets), reduction="sum")
        count += len(targets)

    add(logits[p + n - 1:-1], tail)  # L_n predicts </think>, then the answer predicts itself
    for j in range(n - 1):  # spacer chunk S_{j+2} after latent L_{j+1} (0-based j)
        chunk, at = chunks[j + 1], p + j  # L_{j+1}'s index = its position
        only_latent = DynamicCache(ddp_cache_data=[(layer.keys[:, :, at:at + 1], layer.values[:, :, at:at + 1])
                                                   for layer in cache.layers])
        s = dec(input_ids=torch.tensor([chunk[:-1]]), position_ids=torch.arange(at + 1, at + len(chunk))[None],
                past_key_values=only_latent).logits[0] if len(chunk) > 1 else logits[:0]
        add(torch.cat([logits[at:at + 1], s]), chunk)  # L_{j+1} predicts the chunk's first token
    return ce, count


def naive_stage2(model: PreTrainedModel, ex: Example, probs: torch.Tensor, ids: torch.Tensor,
                 ) -> tuple[torch.Tensor, int, torch.Tensor, int]:
    """(summed answer CE, its count, summed KL over the latents, their count) of one example."""
    W = model.get_input_embeddings().weight
    latents = [sum(q[i] * W.detach()[t[i]] for i in range(len(q))) for q, t in zip(probs, ids)]
    m, p = len(latents), len(ex.prompt) + 1
    tail = [END] + ex.answer
    x = torch.cat([W[torch.tensor(ex.prompt + [THINK])], torch.stack(latents), W[torch.tensor(tail)]])[None]
    logits = model(inputs_embeds=x).logits[0]
    ce = F.cross_entropy(logits[p + m - 1:-1], torch.tensor(tail), reduction="sum")
    kl = torch.zeros((), dtype=torch.float64)
    for j in range(m):  # the position before slot j predicts it
        logp = torch.log_softmax(logits[p + j - 1], -1)
        kl = kl + sum(probs[j, i] * (probs[j, i].log() - logp[ids[j, i]]) for i in range(ids.shape[1]))
    return ce, len(tail), kl, m


# --- the tests ----------------------------------------------------------------------------------
@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("scores", ["head", "embeddings"])
def test_stage1_loss_and_gradients_equal_the_naive_forward(scores, backbone):
    """Both tracks of the batched stage-1 forward: latents from the induction-masked encoder, the
    decoder's supervision mask and its dual-track positions (latents where stage 2 puts them)."""
    stage1 = Stage1(BACKBONES[backbone](), top_k=5, lora_rank=0, lora_alpha=0, lora_dropout=0.0, scores=scores)
    stage1.set_phase("joint")
    loss = stage1(stage1_batch(EXAMPLES, SP, K), COMPRESS)
    parts = [naive_stage1_ce(stage1, ex, scores, 5) for ex in EXAMPLES]
    naive = sum(ce for ce, _ in parts) / sum(n for _, n in parts)
    assert_same_loss_and_grads(stage1, loss, naive)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_stage2_loss_and_gradients_equal_the_naive_forward(backbone):
    model = BACKBONES[backbone](1)
    gen = torch.Generator().manual_seed(0)
    teachers = []
    for ex in EXAMPLES:
        m = -(-len(ex.cot) // K)
        probs = torch.softmax(torch.randn(m, 4, generator=gen, dtype=torch.float64), -1)
        ids = torch.stack([torch.randperm(100, generator=gen)[:4] for _ in range(m)])
        teachers.append((probs, ids))
    batch = stage2_batch(EXAMPLES, [len(p) for p, _ in teachers], SP)
    loss, _ = stage2_loss(model, batch, teachers, ce_weight=0.7, kl_weight=1.3)
    parts = [naive_stage2(model, ex, p, t) for ex, (p, t) in zip(EXAMPLES, teachers)]
    ce = sum(x[0] for x in parts) / sum(x[1] for x in parts)
    kl = sum(x[2] for x in parts) / sum(x[3] for x in parts)
    naive = 0.7 * ce + 1.3 * kl
    assert_same_loss_and_grads(model, loss, naive)

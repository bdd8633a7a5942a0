"""Soft Thinking's batched, KV-cached concept-token loop equals a naive uncached one per sample.

Soft Thinking is training-free: its mechanism is the reasoning loop, where each step feeds the
probability-weighted mixture of token embeddings (the concept token) instead of a sampled token, and
a sample stops when its most likely token is the end-of-thinking token. nfbench runs a left-padded
batch in one KV cache, stopped samples idling on masked positions. The naive version takes one sample
alone and recomputes the whole sequence of embeddings without a cache at every step. The concept
weights (concept_weights, tested against explicit filtering in test_soft_thinking_core.py) and the
stop rule are the same per-row functions; what is compared is the loop around them: the number of
concept tokens, each one's top token, why it stopped, and the logits once the end token is fed.
"""
from __future__ import annotations

import pytest
import torch
from equivalence import BACKBONES

from nfbench.harness.batching import pad
from nfbench.harness.generation import DecodeState, step
from nfbench.methods.soft_thinking_core import concept_weights, soft_think

PROMPTS = [[5, 6, 7, 8, 9], [10, 11], [12, 13, 14]]
SETTINGS = dict(temperature=0.6, top_k=10, top_p=0.95, min_p=0.001)
MAX_STEPS = 6


@torch.no_grad()
def naive(model, prompt: list[int], end_id: int) -> tuple[list[int], str, torch.Tensor]:
    """(top token of each concept, why it stopped, logits after the end token) without a cache."""
    E = model.get_input_embeddings().weight
    seq = [E[t] for t in prompt]
    logits = model(inputs_embeds=torch.stack(seq)[None]).logits[0, -1]
    tops, why = [], "max_steps"
    for _ in range(MAX_STEPS):
        if int(logits.argmax()) == end_id:
            why = "end_token"
            break
        tops.append(int(logits.argmax()))
        w = concept_weights(logits[None], **SETTINGS)[0]
        seq.append(w.to(E.dtype) @ E)
        logits = model(inputs_embeds=torch.stack(seq)[None]).logits[0, -1]
    seq.append(E[end_id])
    return tops, why, model(inputs_embeds=torch.stack(seq)[None]).logits[0, -1]


@pytest.mark.parametrize("backbone", BACKBONES)
def test_soft_thinking_loop_equals_the_naive_uncached_one(backbone):
    model = BACKBONES[backbone](vocab=48).eval()
    # an end token that the first sample's chain reaches at step 3, so the samples stop at different steps
    free = naive(model, PROMPTS[0], end_id=-1)[0]
    end_id = next(t for i, t in enumerate(free) if i >= 2 and t not in free[:i])
    want = [naive(model, p, end_id) for p in PROMPTS]
    assert len({len(w[0]) for w in want}) > 1, "the samples should stop at different steps"

    ids, mask = pad(PROMPTS, 0, "left")
    state = DecodeState.empty(model, len(PROMPTS))
    logits = step(model, state, input_ids=ids, new_mask=mask).logits
    got = soft_think(model, state, logits, end_id=end_id, max_steps=MAX_STEPS, entropy_threshold=0.0, **SETTINGS)
    after = step(model, state, input_ids=torch.full((len(PROMPTS), 1), end_id)).logits
    for i, (tops, why, final) in enumerate(want):
        assert got.top_tokens[i] == tops and got.stopped_by[i] == why and int(got.steps[i]) == len(tops)
        torch.testing.assert_close(after[i].double(), final.double(), rtol=1e-5, atol=1e-5 * float(final.abs().max()))

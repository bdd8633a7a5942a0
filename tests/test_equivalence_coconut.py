"""Coconut's batched, KV-cached training forward equals a naive re-implementation from the paper.

nfbench runs a batch whose latent slots are aligned in one column (left padding), one cached pass per
thought, the last thought together with everything after it. The naive version takes one example at a
time, unpadded, and recomputes the whole sequence without a cache for every thought: "the last hidden
state of the previous position is fed back as the next input embedding", then one plain forward over the
complete sequence gives the logits, and the loss is the CE on the tokens after `<eot>`.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from equivalence import BACKBONES, assert_same_loss_and_grads

from nfbench.methods.coconut import collate_fn, latent_loss
from nfbench.methods.coconut.curriculum import Example, build_example

IDS = {"bot": 90, "eot": 91, "latent": 92}
PAD, EOS = 0, 1


def examples() -> list[Example]:
    """Questions of different lengths (left padding), different thought counts (no pad_latent_to_max)."""
    samples = [([10, 11, 12], [[20, 21], [22], [23, 24]], [30, EOS]),
               ([13], [[25], [26, 27]], [31, 32, EOS]),
               ([14, 15], [[28, 29, 40]], [33, EOS])]
    return [build_example(q, steps, ans, stage=2, ids=IDS, max_latent_stage=3, c_thought=2, pad_latent_to_max=False)
            for q, steps, ans in samples]


def naive_ce(model, ex: Example) -> tuple[torch.Tensor, int]:
    """Summed CE of one example (no padding, no cache) and its number of targets."""
    emb = model.get_input_embeddings()
    ids = ex.input_ids
    start = ids.index(IDS["latent"])
    inputs = [emb(torch.tensor(t)) for t in ids[:start]]
    for _ in range(ex.n_latents):  # each thought = last hidden state of the sequence so far
        out = model(inputs_embeds=torch.stack(inputs)[None], output_hidden_states=True)
        inputs.append(out.hidden_states[-1][0, -1])
    inputs += [emb(torch.tensor(t)) for t in ids[start + ex.n_latents:]]
    logits = model(inputs_embeds=torch.stack(inputs)[None]).logits[0]
    targets = [t for t, label in zip(ids, ex.labels) if label != -100]
    first = ex.labels.index(targets[0])  # the first supervised token (after <eot>)
    assert ids[first - 1] == IDS["eot"] and ex.labels[first:] == ids[first:]
    return F.cross_entropy(logits[first - 1:-1], torch.tensor(ids[first:]), reduction="sum"), len(targets)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_coconut_loss_and_gradients_equal_the_naive_forward(backbone):
    model = BACKBONES[backbone]()
    exs = examples()
    assert [e.n_latents for e in exs] == [4, 4, 2] and len({e.latent_start for e in exs}) == 3
    loss, info = latent_loss(IDS["latent"])(model, collate_fn(PAD)(exs))
    assert info["passes"] == 5  # n + 1 sequential passes for the longest chain of thoughts
    parts = [naive_ce(model, ex) for ex in exs]
    naive = sum(ce for ce, _ in parts) / sum(n for _, n in parts)
    assert_same_loss_and_grads(model, loss, naive)

"""Soft Thinking's concept tokens and stop rules on a real tiny Llama."""
from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from nfbench.harness.batching import pad
from nfbench.harness.generation import DecodeState, step

from nfbench.methods.soft_thinking_core import concept_weights, entropy, soft_think

V = 48


@pytest.fixture()
def model():
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=V, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128)
    return LlamaForCausalLM(cfg).float().eval()


def test_concept_weights_equal_explicit_filtering():
    logits = torch.tensor([[3.0, 1.0, 2.5, -1.0, 0.0, 2.9]])
    p = torch.softmax(logits[0], -1).tolist()
    # top-3: tokens 0, 5, 2
    w = concept_weights(logits, 1.0, 3, 1.0)[0]
    z = p[0] + p[5] + p[2]
    assert torch.allclose(w, torch.tensor([p[0] / z, 0, p[2] / z, 0, 0, p[5] / z]))
    # top-p 0.5: token 0 alone has less than 0.5, tokens 0 and 5 together exceed it -> keep {0, 5}
    assert p[0] < 0.5 < p[0] + p[5]
    w = concept_weights(logits, 1.0, 0, 0.5)[0]
    assert torch.allclose(w, torch.tensor([p[0], 0, 0, 0, 0, p[5]]) / (p[0] + p[5]))
    # min-p 0.5 keeps tokens with at least half the top probability: 0, 5 and 2
    w = concept_weights(logits, 1.0, 0, 1.0, min_p=0.5)[0]
    assert torch.allclose(w, torch.tensor([p[0] / z, 0, p[2] / z, 0, 0, p[5] / z]))
    # the concept token is the weighted sum of the kept embeddings
    emb = torch.randn(6, 4)
    explicit = sum(w[i] * emb[i] for i in range(6))
    assert torch.allclose(w @ emb, explicit, atol=1e-6)


def test_entropy_of_uniform_and_peaked():
    assert torch.isclose(entropy(torch.zeros(1, 8)), torch.log(torch.tensor(8.0)))
    assert entropy(torch.tensor([[100.0, 0.0, 0.0]])) < 1e-6


def _start(model, prompts):
    ids, mask = pad(prompts, 0, "left")
    state = DecodeState.empty(model, len(prompts))
    return state, step(model, state, input_ids=ids, new_mask=mask).logits


def _feed_end(model, state, end_id=47):
    return step(model, state, input_ids=torch.full((state.attention_mask.shape[0], 1), end_id)).logits


def _fixed_head(model, bias):
    """Make every step's logits equal `bias`: a head with zero weights and a bias."""
    head = torch.nn.Linear(model.config.hidden_size, V, bias=True)
    torch.nn.init.zeros_(head.weight)
    head.bias.data = bias
    model.lm_head = head


def test_stop_rules(model):
    bias = torch.zeros(V)
    bias[7] = 1.0  # flat-ish: high entropy, argmax 7
    _fixed_head(model, bias)
    res = soft_think(model, *_start(model, [[1, 2, 3]]), end_id=7, max_steps=5)
    assert res.stopped_by == ["end_token"] and res.steps.tolist() == [0]
    state, logits = _start(model, [[1, 2, 3]])
    res = soft_think(model, state, logits, end_id=9, max_steps=5, temperature=1.0, top_k=15)
    assert res.stopped_by == ["max_steps"] and res.steps.tolist() == [5]
    assert state.cache.get_seq_length() == 3 + 5 and state.next_position.tolist() == [8]
    assert res.support == [15.0]  # top-k 15 of a flat distribution (top-p 0.95 keeps all 15)
    bias[7] = 50.0  # peaked: entropy ~0, stops after `patience` low-entropy steps
    _fixed_head(model, bias)
    res = soft_think(model, *_start(model, [[1, 2, 3]]), end_id=9, max_steps=10, patience=3)
    assert res.stopped_by == ["entropy"] and res.steps.tolist() == [2]
    assert res.top_tokens == [[7, 7]]


def test_idle_samples_do_not_change_the_others(model):
    """A sample that stops early idles on masked positions; the others' thoughts are unchanged."""
    long_prompt, short_prompt = [5, 6, 7, 8, 9], [10, 11]
    state_a, logits_a = _start(model, [long_prompt])
    alone = soft_think(model, state_a, logits_a, end_id=47, max_steps=6, entropy_threshold=0.0)
    assert alone.steps.item() == 6
    # batched with a sample that stops at once (its argmax forced to the end token)
    state_b, logits_b = _start(model, [long_prompt, short_prompt])
    logits_b[1, 47] = 1e4
    both = soft_think(model, state_b, logits_b, end_id=47, max_steps=6, entropy_threshold=0.0)
    assert both.steps.tolist() == [6, 0] and both.stopped_by[1] == "end_token"
    assert both.top_tokens[0] == alone.top_tokens[0]
    assert state_b.next_position.tolist() == [11, 2] and state_b.attention_mask[1].sum() == 2
    # feeding the end token next gives each row the logits it gets alone
    after_b, after_a = _feed_end(model, state_b), _feed_end(model, state_a)
    assert torch.allclose(after_b[0], after_a[0], atol=1e-5)
    state_s, _ = _start(model, [short_prompt])
    assert torch.allclose(after_b[1], _feed_end(model, state_s)[0], atol=1e-5)

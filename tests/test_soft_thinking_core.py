"""Soft Thinking's concept tokens and stop rules on a real tiny Llama."""
from __future__ import annotations

import pytest
import torch
from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM

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
    # the concept token is the weighted sum of the kept embeddings
    emb = torch.randn(6, 4)
    explicit = sum(w[i] * emb[i] for i in range(6))
    assert torch.allclose(w @ emb, explicit, atol=1e-6)


def test_entropy_of_uniform_and_peaked():
    assert torch.isclose(entropy(torch.zeros(1, 8)), torch.log(torch.tensor(8.0)))
    assert entropy(torch.tensor([[100.0, 0.0, 0.0]])) < 1e-6


def _start(model, prompts):
    width = max(map(len, prompts))
    ids = torch.tensor([[0] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache()
    out = model(input_ids=ids, attention_mask=mask, position_ids=pos, past_key_values=cache, use_cache=True)
    return out.logits[:, -1], cache, mask, pos[:, -1:] + 1


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
    res, *_ = soft_think(model, *_start(model, [[1, 2, 3]]), end_id=7, max_steps=5)
    assert res.stopped_by == ["end_token"] and res.steps.tolist() == [0]
    res, cache, mask, _ = soft_think(model, *_start(model, [[1, 2, 3]]), end_id=9, max_steps=5)
    assert res.stopped_by == ["max_steps"] and res.steps.tolist() == [5]
    assert cache.get_seq_length() == 3 + 5 and mask.shape[1] == 8
    assert res.support == [15.0]  # top-k 15 of a flat distribution (top-p 0.95 keeps all 15)
    bias[7] = 50.0  # peaked: entropy ~0, stops after `patience` low-entropy steps
    _fixed_head(model, bias)
    res, *_ = soft_think(model, *_start(model, [[1, 2, 3]]), end_id=9, max_steps=10, patience=3)
    assert res.stopped_by == ["entropy"] and res.steps.tolist() == [2]
    assert res.top_tokens == [[7, 7]]


def test_idle_samples_do_not_change_the_others(model):
    """A sample that stops early idles on masked positions; the others' thoughts are unchanged."""
    torch.manual_seed(1)
    long_prompt, short_prompt = [5, 6, 7, 8, 9], [10, 11]
    alone, cache_a, mask_a, pos_a = soft_think(model, *_start(model, [long_prompt]), end_id=47, max_steps=6,
                                               entropy_threshold=0.0)
    # in a batch with a sample stopped from the start (its argmax is the end token via a huge logit)
    logits, cache, mask, pos = _start(model, [long_prompt, short_prompt])
    logits[1, 47] = 1e4
    both, cache_b, mask_b, pos_b = soft_think(model, logits, cache, mask, pos, end_id=47, max_steps=6,
                                              entropy_threshold=0.0)
    assert both.steps.tolist() == [alone.steps.item(), 0] and both.stopped_by[1] == "end_token"
    assert both.top_tokens[0] == alone.top_tokens[0]
    assert pos_b.tolist() == [[pos_a.item()], [2]] and mask_b[1].sum() == 2
    # feeding the end token next gives the same logits for the long sample as when alone
    nxt = torch.tensor([[47], [47]])
    out_b = model(input_ids=nxt, attention_mask=torch.cat([mask_b, torch.ones(2, 1, dtype=mask_b.dtype)], 1),
                  position_ids=pos_b, past_key_values=cache_b)
    out_a = model(input_ids=nxt[:1], attention_mask=torch.cat([mask_a, torch.ones(1, 1, dtype=mask_a.dtype)], 1),
                  position_ids=pos_a, past_key_values=cache_a)
    assert torch.allclose(out_b.logits[0], out_a.logits[0], atol=1e-5)
    # and the short sample equals running it with no thinking at all
    lone_logits, lone_cache, lone_mask, lone_pos = _start(model, [short_prompt])
    out_s = model(input_ids=nxt[:1], attention_mask=torch.cat([lone_mask, torch.ones(1, 1, dtype=lone_mask.dtype)], 1),
                  position_ids=lone_pos, past_key_values=lone_cache)
    assert torch.allclose(out_b.logits[1], out_s.logits[0], atol=1e-5)

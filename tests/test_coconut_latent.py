"""Coconut's latent chain: the KV-cached passes equal a full recompute, gradients included."""
from __future__ import annotations

import random

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from nfbench.harness.batching import pad, positions
from nfbench.harness.generation import DecodeState
from nfbench.methods.coconut.curriculum import build_example, collate
from nfbench.methods.coconut.latent import latent_forward, think

IDS = {"bot": 61, "eot": 62, "latent": 63}
PAD = 0


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=64, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=128)
    return LlamaForCausalLM(cfg).float().eval()


def recompute_forward(model, input_ids, attention_mask, latent_id, detach=False):
    """Oracle without any cache: each thought recomputes the whole prefix from scratch."""
    embeds = model.get_input_embeddings()(input_ids)
    pos = positions(attention_mask)
    for col in range(input_ids.shape[1]):
        rows = input_ids[:, col] == latent_id
        if rows.any():
            out = model(inputs_embeds=embeds[:, :col], attention_mask=attention_mask[:, :col],
                        position_ids=pos[:, :col], use_cache=False, output_hidden_states=True)
            thought = out.hidden_states[-1][:, -1]
            thought = thought.detach() if detach else thought
            embeds = torch.cat([embeds[:, :col], torch.where(rows[:, None], thought, embeds[:, col])[:, None],
                                embeds[:, col + 1:]], 1)
    return model(inputs_embeds=embeds, attention_mask=attention_mask, position_ids=pos, use_cache=False).logits


def make_batch(stages, seed=0):
    rng = random.Random(seed)
    examples = []
    for stage in stages:
        q = [rng.randint(3, 60) for _ in range(rng.randint(4, 9))]
        steps = [[rng.randint(3, 60) for _ in range(rng.randint(2, 4))] for _ in range(3)]
        answer = [rng.randint(3, 60) for _ in range(5)]
        examples.append(build_example(q, steps, answer, stage, IDS, max_latent_stage=3, c_thought=2,
                                      pad_latent_to_max=False))
    b = collate(examples, PAD)
    return (torch.tensor(b.input_ids), torch.tensor(b.attention_mask), torch.tensor(b.labels))


@pytest.mark.parametrize("stages", [[2, 2, 2], [0, 3, 1, 4], [0, 0]])
def test_cached_latent_pass_equals_recompute(model, stages):
    ids, mask, _ = make_batch(stages)
    cached, passes = latent_forward(model, ids, mask, IDS["latent"])
    full = recompute_forward(model, ids, mask, IDS["latent"])
    real = mask.bool()
    assert torch.allclose(cached[real], full[real], atol=1e-5), (cached[real] - full[real]).abs().max()
    n_latents = int((ids == IDS["latent"]).sum(1).max())
    assert passes == n_latents + 1


def test_gradients_flow_through_the_chain(model):
    ids, mask, labels = make_batch([3, 1])
    ce = torch.nn.functional.cross_entropy

    def grads(forward):
        model.zero_grad()
        logits = forward(model, ids, mask, IDS["latent"])
        logits = logits[0] if isinstance(logits, tuple) else logits
        ce(logits[:, :-1].reshape(-1, 64), labels[:, 1:].reshape(-1)).backward()
        return {n: p.grad.clone() for n, p in model.named_parameters()}

    cached, full = grads(latent_forward), grads(recompute_forward)
    for name in cached:
        assert torch.allclose(cached[name], full[name], atol=1e-5), name
    # the chain's own gradient is material: with the thoughts detached the gradients differ
    cut = grads(lambda *a: recompute_forward(*a, detach=True))
    assert not torch.allclose(cut["model.layers.0.mlp.up_proj.weight"],
                              cached["model.layers.0.mlp.up_proj.weight"], atol=1e-5)


def test_inference_prefix_matches_training_forward(model):
    """think() (batched, cached, left-padded prompts) gives the logits the training pass gives at `<eot>`."""
    prompts = [[5, 6, 7, 8, 9, 10], [11, 12, 13]]
    for k in (0, 1, 3):
        ids, mask = pad(prompts, PAD, "left")
        state = DecodeState.empty(model, 2)
        out = think(model, state, ids, mask, k, IDS["bot"], IDS["eot"])
        assert state.cache.get_seq_length() == ids.shape[1] + k + 2
        assert state.next_position.tolist() == [len(p) + k + 2 for p in prompts]
        seq = torch.cat([ids, torch.tensor([[IDS["bot"]] + [IDS["latent"]] * k + [IDS["eot"]]] * 2)], 1)
        reference = recompute_forward(model, seq, state.attention_mask, IDS["latent"])[:, -1]
        assert torch.allclose(out.logits, reference, atol=1e-5), k


def test_edit_thought_reaches_only_positions_after_the_first_latent(model):
    """The probe hook (experiments/coconut_thought_probe.py): zeroed thoughts change what follows the
    first latent and nothing before it; the identity edit changes nothing."""
    ids, mask, _ = make_batch([2, 3])
    plain, _ = latent_forward(model, ids, mask, IDS["latent"])
    same, _ = latent_forward(model, ids, mask, IDS["latent"], edit_thought=lambda t: t)
    zeroed, _ = latent_forward(model, ids, mask, IDS["latent"], edit_thought=torch.zeros_like)
    start = int((ids == IDS["latent"]).float().argmax(1).min())
    assert torch.equal(plain, same)
    assert torch.allclose(plain[:, :start], zeroed[:, :start])
    assert not torch.allclose(plain[:, start:], zeroed[:, start:], atol=1e-4)

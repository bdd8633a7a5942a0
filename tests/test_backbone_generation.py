"""Backbone loading, the char tokenizer, KV-cached batched decoding and the cost meter (tiny Llama)."""
from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from nfbench.harness.backbone import add_special_tokens, load_backbone, resolve_dtype
from nfbench.harness.cost import CostMeter, forward_flops, kv_bytes_per_position
from nfbench.harness.errors import UserError
from nfbench.harness.batching import pad
from nfbench.harness.generation import DecodeState, Sampling, generate_ids, greedy_no_cache, make_generator, step
from nfbench.harness.tokenizer import char_tokenizer

PROMPTS = ["a=7;b=a+5;f(x)=x*b+a\n", "def f(x):", "print('hi')\n  # a longer prompt line"]


@pytest.fixture(scope="module")
def tiny():
    return load_backbone("tiny-llama", device="cpu", seed=3)


def test_char_tokenizer_round_trip_and_specials():
    tok = char_tokenizer()
    text = "def f(x):\n\treturn x*0+4  # ~!"
    ids = tok(text)["input_ids"]
    assert len(ids) == len(text) and tok.decode(ids) == text
    assert tok.pad_token_id != tok.eos_token_id and tok.padding_side == "left"


def test_add_special_tokens_copies_embedding(tiny, tmp_path):
    bb = load_backbone("tiny-llama", device="cpu", seed=0)
    ids = add_special_tokens(bb, ["<bot>", "<eot>"], init_from="<eos>")
    emb = bb.model.get_input_embeddings().weight
    assert emb.shape[0] == len(bb.tokenizer) and torch.equal(emb[ids[0]], emb[bb.tokenizer.eos_token_id])
    assert bb.tokenizer("x<bot>y")["input_ids"][1] == ids[0]  # matched as one token
    reloaded = load_backbone(str(bb.save(tmp_path / "ck")), device="cpu")
    assert reloaded.tokenizer.convert_tokens_to_ids("<eot>") == ids[1]
    assert torch.equal(reloaded.model.get_input_embeddings().weight, emb)


def test_bad_backbone_is_a_user_error(tmp_path):
    with pytest.raises(UserError):
        load_backbone(str(tmp_path / "missing.gguf"))
    with pytest.raises(UserError):
        load_backbone(str(tmp_path))  # a dir without config.json
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32


def test_kv_cache_batched_greedy_equals_no_cache(tiny):
    prompts = [tiny.tokenizer(p)["input_ids"] for p in PROMPTS]  # different lengths -> left padding
    cached = generate_ids(tiny.model, prompts, tiny.tokenizer.pad_token_id, max_new_tokens=48)
    for p, out in zip(prompts, cached):
        assert out == greedy_no_cache(tiny.model, p, 48)


def test_latent_style_embeds_step_matches_token_step(tiny):
    """Feeding a token's embedding through step() == feeding its id (what latent methods rely on)."""
    ids, mask = pad([tiny.tokenizer(p)["input_ids"] for p in PROMPTS], tiny.tokenizer.pad_token_id, "left")
    a, b = DecodeState.empty(tiny.model, 3), DecodeState.empty(tiny.model, 3)
    step(tiny.model, a, input_ids=ids, new_mask=mask)
    step(tiny.model, b, input_ids=ids, new_mask=mask)
    nxt = torch.tensor([[5], [6], [7]])
    out_ids = step(tiny.model, a, input_ids=nxt, hidden=True)
    out_emb = step(tiny.model, b, inputs_embeds=tiny.model.get_input_embeddings()(nxt), hidden=True)
    assert torch.allclose(out_ids.logits, out_emb.logits, atol=1e-5)
    assert out_emb.hidden.shape == (3, tiny.model.config.hidden_size)


def test_sampling_is_seeded_and_top_p_restricts(tiny):
    prompts = [tiny.tokenizer(PROMPTS[0])["input_ids"]] * 4
    kw = dict(max_new_tokens=12, sampling=Sampling(temperature=1.0, top_p=0.9))
    a = generate_ids(tiny.model, prompts, 0, seed=1, **kw)
    assert a == generate_ids(tiny.model, prompts, 0, seed=1, **kw)
    assert a != generate_ids(tiny.model, prompts, 0, seed=2, **kw)
    logits = torch.tensor([[10.0, 9.0, -5.0, -5.0]])
    draws = {int(decode_one(logits, 0.5)) for _ in range(50)}
    assert draws == {0}  # top token alone holds > 50% of the mass


def decode_one(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    from nfbench.harness.generation import sample_next

    return sample_next(logits, Sampling(temperature=1.0, top_p=top_p), make_generator(0))


def test_flops_estimate_matches_flop_counter(tiny):
    model = load_backbone("tiny-llama", device="cpu").model
    model.set_attn_implementation("eager")  # attention as matmuls, which the counter sees
    ids = torch.randint(5, 90, (1, 200))
    with FlopCounterMode(display=False) as fc:
        model(input_ids=ids, use_cache=False)
    counted = fc.get_total_flops()
    estimated = forward_flops(model.config, 200, 200, logits_positions=200)
    assert abs(estimated - counted) / counted < 0.10
    # one cached decode step at context 201
    state = DecodeState.empty(model, 1)
    step(model, state, input_ids=ids)
    with FlopCounterMode(display=False) as fc:
        step(model, state, input_ids=torch.tensor([[7]]))
    assert abs(forward_flops(model.config, 1, 201, 1) - fc.get_total_flops()) / fc.get_total_flops() < 0.10


def test_cost_meter_splits_phases(tiny):
    tok, model = tiny.tokenizer, tiny.model
    prompts = [tok(p)["input_ids"] for p in PROMPTS[:2]]
    meter = CostMeter(model.config, 2, tiny.device, tiny.dtype, phase="reasoning")
    seen = [0, 0]

    def on_token(i: int, t: int) -> bool:  # 5 reasoning tokens, then answer
        seen[i] += 1
        if seen[i] == 5:
            meter.set_phase(i, "answer")
        return False

    out = generate_ids(model, prompts, tok.pad_token_id, max_new_tokens=9, meter=meter, on_token=on_token)
    costs = meter.results()
    for i, c in enumerate(costs):
        assert c.prompt_tokens == len(prompts[i])
        assert c.reasoning_positions == 5 and c.answer_tokens == len(out[i]) - 5 == 4
        assert c.forward_passes == 9  # prefill + 8 fed tokens (the last sampled one is not fed)
        assert c.kv_cache_bytes == (len(prompts[i]) + 4) * kv_bytes_per_position(model.config, torch.float32)
        assert c.reasoning_seconds > 0 and c.answer_seconds > 0 and c.peak_memory_bytes > 0
        expected = forward_flops(model.config, len(prompts[i]), len(prompts[i]))
        expected += sum(forward_flops(model.config, 1, len(prompts[i]) + k) for k in range(1, 9))
        assert c.flops == pytest.approx(expected)

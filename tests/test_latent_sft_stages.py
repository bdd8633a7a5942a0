"""Latent-SFT stage 1 / stage 2 losses and the KV-cached latent decoding on a tiny Llama."""
import pytest
import torch

from nfbench.methods.latent_sft.decode import effective_compression_rate, effective_global_parallelism, think
from nfbench.methods.latent_sft.masks import additive, induction_mask
from nfbench.methods.latent_sft.sequences import Example, SpecialIds, encoder_ids, pad_ids, stage1_batch, stage2_batch
from nfbench.methods.latent_sft.stage1 import Stage1, body
from nfbench.methods.latent_sft.stage2 import stage2_loss, teacher_latents
from nfbench.methods.latent_sft.superposition import mix, topk_distribution

SP = SpecialIds(think=90, end_think=91, compress=92, pad=0)
EOS = 1
EXAMPLES = [Example([10, 11, 12], [20, 21, 22, 23, 24], [30, 31, EOS]),
            Example([13], [25, 26], [32, EOS])]


def tiny_llama(layers: int = 2):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64)
    return LlamaForCausalLM(cfg)


@pytest.fixture(scope="module")
def stage1():
    return Stage1(tiny_llama(), top_k=10, lora_rank=4, lora_alpha=8, lora_dropout=0.0)


def grads(module):
    return [p.grad for n, p in module.named_parameters() if "lora_" in n]


@pytest.mark.parametrize("phase,enc,dec", [("encoder", True, False), ("decoder", False, True), ("joint", True, True)])
def test_stage1_schedule_trains_the_right_part(stage1, phase, enc, dec):
    stage1.zero_grad(set_to_none=True)
    params = stage1.set_phase(phase)
    assert params and all(p.requires_grad for p in params)
    loss = stage1(stage1_batch(EXAMPLES, SP, k=2), SP.compress)
    assert torch.isfinite(loss)
    loss.backward()
    enc_grads, dec_grads = grads(stage1.encoder), grads(stage1.decoder)
    assert any(g is not None and g.abs().sum() > 0 for g in enc_grads) == enc
    assert any(g is not None and g.abs().sum() > 0 for g in dec_grads) == dec
    # the embedding LoRA exists on the encoder only, as in the reference
    names = [n for n, _ in stage1.encoder.named_parameters() if "embed_tokens" in n and "lora_" in n]
    assert names and not [n for n, _ in stage1.decoder.named_parameters() if "embed_tokens" in n and "lora_" in n]


def test_encoder_scores_the_vocabulary_with_the_lm_head(stage1):
    """Untied backbone: a latent's distribution is the LM head's softmax (what the stage-2 student and
    inference produce), not h @ W_in^T, which scores h against the input embeddings."""
    assert not stage1.decoder.config.tie_word_embeddings
    ids, lengths = pad_ids([encoder_ids(ex, SP, 2) for ex in EXAMPLES], SP.pad)
    with torch.no_grad():
        emb, probs, top = stage1.encode(ids, lengths, SP.compress, top_k=5)
        mask = additive(induction_mask(ids, SP.compress, lengths), torch.float32)
        h = body(stage1.encoder)(input_ids=ids, attention_mask=mask).last_hidden_state[ids == SP.compress]
        want_p, want_ids = topk_distribution(stage1.decoder.get_output_embeddings()(h), 5)
    assert torch.equal(top, want_ids) and torch.allclose(probs, want_p, atol=1e-5)
    assert torch.allclose(emb, mix(want_p, want_ids, stage1.vocab()), atol=1e-5)


def test_stage1_learns_on_a_toy_set():
    s1 = Stage1(tiny_llama(), top_k=10, lora_rank=0, lora_alpha=0, lora_dropout=0.0)
    opt = torch.optim.AdamW(s1.set_phase("joint"), lr=3e-3)
    batch = stage1_batch(EXAMPLES, SP, k=2)
    with torch.no_grad():
        first = float(s1(batch, SP.compress))
    for _ in range(30):
        opt.zero_grad()
        loss = s1(batch, SP.compress)
        loss.backward()
        opt.step()
    assert float(loss) < 0.3 * first


def test_stage2_loss_uses_teacher_latents(stage1):
    teachers = teacher_latents(stage1, EXAMPLES, SP, k=2, top_k=10)
    assert [p.shape[0] for p, _ in teachers] == [3, 1]  # ceil(5/2), ceil(2/2)
    assert all(torch.allclose(p.sum(-1), torch.ones(len(p))) for p, _ in teachers)
    model = tiny_llama()
    batch = stage2_batch(EXAMPLES, [len(p) for p, _ in teachers], SP)
    loss, parts = stage2_loss(model, batch, teachers, ce_weight=1.0, kl_weight=1.0)
    loss.backward()
    assert parts["kl"] > 0 and parts["ce"] > 0
    assert model.model.layers[0].self_attn.q_proj.weight.grad.abs().sum() > 0


def run_think(model, prompts, **kw):
    from nfbench.harness.batching import pad
    from nfbench.harness.generation import DecodeState, Sampling, decode

    ids, mask = pad(prompts, 0, "left")
    state = DecodeState.empty(model, len(prompts))
    logits, chains = think(model, state, ids, mask, think_id=90, end_think_id=91, top_k=5, max_latents=4, **kw)
    answers = decode(model, state, logits, max_new_tokens=3, sampling=Sampling(), stop_ids={EOS})
    return chains, answers


def test_cached_batched_decoding_matches_full_recompute():
    model = tiny_llama().eval()
    prompts = [[10, 11, 12, 13], [14, 15]]
    chains, answers = run_think(model, prompts)
    for b, prompt in enumerate(prompts):
        alone, answer = run_think(model, [prompt])
        assert answer[0] == answers[b]
        assert len(alone[0].probs) == len(chains[b].probs)
        for p, q in zip(alone[0].probs, chains[b].probs):
            assert torch.allclose(p, q, atol=1e-4)
        # recompute without a cache: each latent input is the top-k mixture of the step before
        W = model.get_input_embeddings().weight
        with torch.no_grad():
            embeds = W[torch.tensor(prompt + [90])]
            for probs, ids in zip(alone[0].probs, alone[0].ids):
                logits = model(inputs_embeds=embeds[None]).logits[0, -1]
                want_p, want_ids = topk_distribution(logits, 5)
                assert torch.equal(want_ids, ids) and torch.allclose(want_p, probs, atol=1e-4)
                embeds = torch.cat([embeds, mix(probs, ids, W)[None]])
            # then </think> (argmax was </think> or the budget ran out) and a greedy answer
            seq = torch.cat([embeds, W[91][None]])
            for tok in answer[0]:
                assert int(model(inputs_embeds=seq[None]).logits[0, -1].argmax()) == tok
                seq = torch.cat([seq, W[tok][None]])
    assert all(len(c.probs) <= 4 for c in chains) and all(len(a) <= 3 for a in answers)


def test_latents_stop_at_end_of_thinking():
    """A model whose argmax is </think> right after <think> makes no latent step."""
    model = tiny_llama().eval()
    model.lm_head.register_forward_hook(lambda m, i, out: out.index_add(-1, torch.tensor([91]), torch.full((*out.shape[:-1], 1), 100.0)))
    chains, _ = run_think(model, [[10, 11]])
    assert chains[0].probs == []


def test_metrics():
    one_hot = [torch.tensor([1.0, 0.0]), torch.tensor([1.0, 0.0])]
    assert effective_global_parallelism(one_hot) == pytest.approx(1.0)
    assert effective_global_parallelism([torch.full((4,), 0.25)]) == pytest.approx(4.0)
    assert effective_global_parallelism([]) is None
    ids = [torch.tensor([5, 6, 7]), torch.tensor([8, 9, 1])]
    # reference [5, 6, 8, 2]: segments [5, 6] and [8, 2]; 5, 6, 8 carried -> 3 tokens over 2 latents
    assert effective_compression_rate(ids, [5, 6, 8, 2], top=3) == pytest.approx(1.5)
    assert effective_compression_rate(ids, [5, 6, 8, 2], top=1) == pytest.approx(1.0)

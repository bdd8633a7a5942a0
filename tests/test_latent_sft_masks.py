"""Latent-SFT's induction and supervision masks against hand-built masks, and HF Llama honouring them."""
import pytest
import torch

from nfbench.methods.latent_sft.masks import additive, induction_mask, supervision_mask
from nfbench.methods.latent_sft.masks import LATENT
from nfbench.methods.latent_sft.sequences import (Example, SpecialIds, decoder_row, encoder_ids, pad_ids, pad_rows,
                                                  stage2_row)

SP = SpecialIds(think=90, end_think=91, compress=92, pad=0)
EX = Example(prompt=[10], cot=[1, 2, 3, 4, 5], answer=[7, 8])  # k=2 -> chunks [1,2] [3,4] [5]


def expected(rows: list[str]) -> torch.Tensor:
    return torch.tensor([[c == "x" for c in r.replace(" ", "")] for r in rows])


def test_induction_mask_matches_hand_built():
    ids = encoder_ids(EX, SP, k=2)
    assert ids == [10, 90, 1, 2, 92, 3, 4, 92, 5, 92, 91]
    batch, lengths = pad_ids([ids, ids[:3]], SP.pad)
    got = induction_mask(batch, SP.compress, lengths)
    # columns: P <think> 1 2 C1 3 4 C2 5 C3 </think>; no row sees an earlier C
    want = expected([
        "x . . . . . . . . . .",
        "x x . . . . . . . . .",
        "x x x . . . . . . . .",
        "x x x x . . . . . . .",
        "x x x x x . . . . . .",  # C1 sees its chunk and itself
        "x x x x . x . . . . .",
        "x x x x . x x . . . .",
        "x x x x . x x x . . .",
        "x x x x . x x . x . .",
        "x x x x . x x . x x .",
        "x x x x . x x . x . x",
    ])
    assert got.shape == (2, 1, 11, 11)
    assert torch.equal(got[0, 0], want)
    # padded row: causal over its 3 tokens, padding sees only itself
    short = got[1, 0]
    assert torch.equal(short[:3, :3], torch.tril(torch.ones(3, 3, dtype=torch.bool)))
    assert not short[:3, 3:].any() and torch.equal(short[3:, 3:], torch.eye(8, dtype=torch.bool))


def test_supervision_mask_matches_hand_built():
    row = decoder_row(EX, SP, k=2)
    # P <think> L1 3 4 L2 5 L3 </think> 7 8
    assert row.ids == [10, 90, 0, 3, 4, 0, 5, 0, 91, 7, 8]
    assert row.labels == [-100, -100, -100, 3, 4, -100, 5, -100, 91, 7, 8]
    b = pad_rows([row, decoder_row(Example([10], [1], [7]), SP, k=2)], SP.pad)
    got = supervision_mask(b["role"], b["seg"])
    want = expected([
        "x . . . . . . . . . .",
        "x x . . . . . . . . .",
        "x x x . . . . . . . .",  # L1: prefix + itself
        ". . x x . . . . . . .",  # S2 sees only L1 and itself
        ". . x x x . . . . . .",
        "x x x . . x . . . . .",  # L2: prefix + L1 + itself
        ". . . . . x x . . . .",  # S3 sees only L2
        "x x x . . x . x . . .",  # L3
        "x x x . . x . x x . .",  # answer: prefix + all L's, no spacer
        "x x x . . x . x x x .",
        "x x x . . x . x x x x",
    ])
    assert torch.equal(got[0, 0], want)
    # second row: P <think> L1 </think> 7 + 6 pads
    short = got[1, 0]
    want_short = expected(["x . . . .", "x x . . .", "x x x . .", "x x x x .", "x x x x x"])
    assert torch.equal(short[:5, :5], want_short)
    assert torch.equal(short[5:, 5:], torch.eye(6, dtype=torch.bool)) and not short[:5, 5:].any()


def test_stage1_position_ids_are_dual_track():
    """The reference's stage-1 position ids: latents consecutive after the prefix, each spacer chunk
    counting on from its latent, `</think>` right after the last latent."""
    row = decoder_row(EX, SP, k=2)
    # P <think> L1 3 4 L2 5 L3 </think> 7 8
    assert row.pos == [0, 1, 2, 3, 4, 3, 4, 4, 5, 6, 7]
    b = pad_rows([row, decoder_row(Example([10], [1], [7]), SP, k=2)], SP.pad)
    assert b["pos"].tolist() == [row.pos, [0, 1, 2, 3, 4] + [0] * 6]


def test_stage1_latents_sit_where_stage2_and_inference_put_them():
    """Issue 20's example: a 41-position prefix and 6 latents (23 CoT tokens, k=4). Without dual-track
    ids the latents sat at 41, 46, 51, 56, 61, 65 and `</think>` at 66; in stage 2 and at inference they
    are at 41..46 and `</think>` at 47."""
    ex = Example(list(range(100, 140)), list(range(200, 223)), [7, 8])
    one, two = decoder_row(ex, SP, k=4), stage2_row(ex, SP, n_latents=6)
    at = lambda row, role: [p for p, r in zip(row.pos, row.role) if r == role]  # noqa: E731
    assert at(one, LATENT) == at(two, LATENT) == list(range(41, 47))
    assert one.pos[one.ids.index(SP.end_think)] == two.pos[two.ids.index(SP.end_think)] == 47
    assert one.pos[-3:] == two.pos[-3:] == [47, 48, 49]  # </think> and the answer
    assert two.pos == list(range(len(two.ids)))  # stage 2 is a plain causal sequence


def tiny_llama(attn: str):
    """One layer, so a query's output depends only on the keys its mask row allows."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64)
    cfg._attn_implementation = attn
    return LlamaForCausalLM(cfg).eval()


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_llama_honours_custom_4d_mask(attn):
    """A masked key must not influence a query; an allowed key must; eager and sdpa agree."""
    row = decoder_row(EX, SP, k=2)
    b = pad_rows([row], SP.pad)
    mask = supervision_mask(b["role"], b["seg"])
    model = tiny_llama(attn)
    ids = torch.tensor([[10, 90, 20, 3, 4, 21, 5, 22, 91, 7, 8]])
    with torch.no_grad():
        base = model(ids, attention_mask=additive(mask, torch.float32)).logits
        changed = ids.clone()
        changed[0, 1] = 55  # <think> is hidden from spacer rows 3, 4, 6 but visible to L/answer rows
        out = model(changed, attention_mask=additive(mask, torch.float32)).logits
        other = tiny_llama("sdpa" if attn == "eager" else "eager")
        ref = other(ids, attention_mask=additive(mask, torch.float32)).logits
        spacer = ids.clone()
        spacer[0, 3] = 56  # a spacer token is hidden from every latent and answer row
        out_spacer = model(spacer, attention_mask=additive(mask, torch.float32)).logits
    moved = (out - base).abs().amax(-1)[0]
    assert moved[[3, 4, 6]].max() < 1e-6
    assert moved[[2, 5, 7, 8, 9, 10]].min() > 1e-4
    moved = (out_spacer - base).abs().amax(-1)[0]
    assert moved[[0, 1, 2, 5, 6, 7, 8, 9, 10]].max() < 1e-6 and moved[[3, 4]].min() > 1e-4
    assert torch.allclose(base, ref, atol=1e-5)

"""Shared pieces of the equivalence tests (tests/test_equivalence_*.py): tiny float64 Llama and GPT-2
backbones, and the comparison of a loss and its gradients with a naive re-implementation's.

nfbench computes its losses in float32 (it upcasts bf16 logits with `.float()`), so a float64 model
agrees with the float64 naive version to float32 rounding: measured <= 1.5e-7 relative on the loss and
<= 1.4e-6 of the largest gradient entry. The tolerance (1e-5) sits between that and what a one-line
sabotage of a mechanism changes (>= 4e-4 relative on the loss; experiments/NOTES.md, "Equivalence
tests", and experiments/equivalence_sabotage.py). EQUIV_REPORT=1 prints the agreement reached.
"""
from __future__ import annotations

import os

import torch
from transformers import LlamaConfig, LlamaForCausalLM

RTOL = 1e-5
INIT = 0.3  # larger than HF's 0.02: sharper outputs, so a wrong mask or position moves the loss by >=4e-4, not 1e-5


def tiny_llama(seed: int = 0, vocab: int = 100, layers: int = 2, attn: str = "sdpa") -> LlamaForCausalLM:
    """Untied (as the CI backbone), float64. sdpa by default: HF's eager attention in float64 gives NaN on
    left-padded rows (transformers 5.24; float32 does not)."""
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64, tie_word_embeddings=False,
                      initializer_range=INIT)
    cfg._attn_implementation = attn
    return LlamaForCausalLM(cfg).double()


def tiny_gpt2(seed: int = 0, vocab: int = 100, attn: str = "sdpa"):
    """Learned absolute positions (Coconut's paper backbone): a position id that is off by the left
    padding changes its output, where rotary embeddings only see relative positions."""
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    cfg = GPT2Config(vocab_size=vocab, n_embd=32, n_layer=2, n_head=4, n_positions=64, tie_word_embeddings=False, initializer_range=INIT,
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=1, eos_token_id=1)
    cfg._attn_implementation = attn
    return GPT2LMHeadModel(cfg).double()


BACKBONES = {"llama": tiny_llama, "gpt2": tiny_gpt2}


def grads_of(module: torch.nn.Module, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    """d loss / d every trainable parameter (zeros where it does not reach)."""
    params = {n: p for n, p in module.named_parameters() if p.requires_grad}
    got = torch.autograd.grad(loss, list(params.values()), retain_graph=True, allow_unused=True)
    return {n: torch.zeros_like(p) if g is None else g for (n, p), g in zip(params.items(), got)}


def assert_same_loss_and_grads(module: torch.nn.Module, loss: torch.Tensor, naive: torch.Tensor) -> None:
    """The loss to RTOL, and every gradient to RTOL of the largest gradient entry."""
    torch.testing.assert_close(loss.double(), naive.double(), rtol=RTOL, atol=0.0)
    got, want = grads_of(module, loss), grads_of(module, naive)
    scale = max(float(g.abs().max()) for g in want.values())
    assert scale > 0, "no gradient reaches the parameters"
    if os.environ.get("EQUIV_REPORT"):  # the agreement reached (experiments/NOTES.md)
        print(f"\nEQUIV loss rel {abs(float(loss) - float(naive)) / abs(float(naive)):.2e} grads max/scale "
              f"{max(float((got[n].double() - want[n].double()).abs().max()) for n in want) / scale:.2e}")
    for name in want:
        torch.testing.assert_close(got[name].double(), want[name].double(), rtol=RTOL, atol=RTOL * scale,
                                   msg=lambda m, n=name: f"gradient of {n}: {m}")

"""NF-CoT's batched stage-2 forward (flow NLL + answer CE) equals a naive re-implementation from the paper.

nfbench maps the noisy VAE targets through the shallow flow in one parallel pass per block (a causal
transformer whose outputs are shifted right by one, log|det| = -sum log scale), and runs one padded
stream `[prompt ; <bot> ; proj(u_1..u_K) ; <eot> ; answer]` through the backbone. The naive version,
one example at a time:

  - each MetaBlock: for slot t (in the block's order), the affine parameters come from the slots
    before t only (no shift trick: the block's transformer is run on those slots, attention written
    out row by row without a mask), z_t = (x_t - b) / softplus(a + softplus^-1(1));
  - log|det dF/de| is not the sum of log scales but the log-determinant of the flow's full Jacobian,
    computed by autograd (so a block that is not triangular, or a wrong sign, shows);
  - the stream is one plain forward without padding; u_i's Gaussian comes from the NF head on the
    hidden state of the position before it, log N written out; answer tokens from the LM head;
  - L = -(sum_i log N(u_i) + log|det|) / (K D), averaged over examples, + answer CE per token.

The flow and head keep float32 weights (as nfbench loads them); the naive version computes in float64.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from equivalence import BACKBONES, assert_same_loss_and_grads

from nfbench.methods.nfcot.data import Example, stream_batch
from nfbench.methods.nfcot.model import FlowShape, NFCoTModel

PAD, EOS = 0, 1
K, D, NOISE = 3, 4, 0.3
EXAMPLES = [Example(0, [10, 11, 12], [5], [30, 31, EOS]), Example(1, [13], [5], [32, EOS]),
            Example(2, [14, 15], [5], [33, 34, 35, 36, EOS])]


def model_under_test(backbone: str) -> NFCoTModel:
    backbone = BACKBONES[backbone]()
    torch.manual_seed(1)
    model = NFCoTModel(backbone, FlowShape(slots=K, dim=D, blocks=2, width=16, layers=2, heads=2, head_width=16))
    with torch.no_grad():  # the zero-initialised outputs make every block and the head trivial: move them
        for block in model.flow.blocks:
            block.proj_out.weight.normal_(0, 0.3), block.proj_out.bias.normal_(0, 0.3)
        model.head.net[-1].weight.normal_(0, 0.3), model.head.net[-1].bias.normal_(0, 0.3)
    model.embed.double()  # with the backbone; flow and head stay float32 (nfcot/train.load_model)
    return model.train()


# --- the naive versions -------------------------------------------------------------------------
def lin(layer: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    return F.linear(x, layer.weight.double(), layer.bias.double())


def norm(layer: torch.nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(x, layer.normalized_shape, layer.weight.double(), layer.bias.double(), layer.eps)


def naive_layer(layer, h: torch.Tensor) -> torch.Tensor:
    """Pre-norm layer; row r attends to rows 0..r, written out per row."""
    t, w = h.shape
    heads, dh = layer.heads, w // layer.heads
    q, k, v = lin(layer.qkv, norm(layer.norm1, h)).view(t, 3, heads, dh).unbind(1)
    rows = []
    for r in range(t):
        att = torch.softmax(torch.einsum("hd,jhd->hj", q[r], k[:r + 1]) / math.sqrt(dh), -1)
        rows.append(torch.einsum("hj,jhd->hd", att, v[:r + 1]).reshape(w))
    h = h + lin(layer.out, torch.stack(rows))
    return h + lin(layer.mlp[2], F.gelu(lin(layer.mlp[0], norm(layer.norm2, h))))


def naive_block(block, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    """x (K, D) -> z: slot t's (a, b) from the slots before t in the block's order."""
    xp = x.flip(0) if block.flip else x
    z = []
    for t in range(K):
        if t == 0:
            a = b = torch.zeros(D, dtype=torch.float64)
        else:
            h = lin(block.proj_in, xp[:t]) + block.pos[:t].double() + lin(block.cond, cond)
            for layer in block.layers:
                h = naive_layer(layer, h)
            a, b = lin(block.proj_out, norm(block.norm, h[-1])).chunk(2)
        z.append((xp[t] - b) / F.softplus(a + math.log(math.e - 1)))
    z = torch.stack(z)
    return z.flip(0) if block.flip else z


def naive_flow(model: NFCoTModel, e: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """u = F(e; q) and log|det dF/de| from the Jacobian (K D x K D)."""
    def f(x: torch.Tensor) -> torch.Tensor:
        for block in model.flow.blocks:
            x = naive_block(block, x, cond)
        return x
    jac = torch.autograd.functional.jacobian(f, e, create_graph=True).reshape(K * D, K * D)
    return f(e), torch.linalg.slogdet(jac).logabsdet


def naive_losses(model: NFCoTModel, ex: Example, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(log p(u|q) + log|det|, summed answer log-likelihood, answer tokens) of one example."""
    bb = model.backbone
    emb = bb.get_input_embeddings()
    prompt = emb(torch.tensor(ex.prompt))
    u, logdet = naive_flow(model, e, prompt.mean(0).detach())
    x = torch.cat([prompt, model.embed.bot[None], lin(model.embed.latent_in, u), model.embed.eot[None],
                   emb(torch.tensor(ex.answer))])[None]
    out = bb(inputs_embeds=x, output_hidden_states=True)
    h, logits = out.hidden_states[-1][0], out.logits[0]
    p = len(ex.prompt)
    latent_logp = torch.zeros((), dtype=torch.float64)
    for i in range(K):  # u_i from the position before it (<bot> for the first)
        hidden = lin(model.head.net[2], F.gelu(lin(model.head.net[0], h[p + i])))
        mu, a = hidden.chunk(2)
        sigma = F.softplus(a + math.log(math.e - 1)) + model.head.min_sigma
        latent_logp = latent_logp + (-0.5 * ((u[i] - mu) / sigma) ** 2 - sigma.log() - 0.5 * math.log(2 * math.pi)).sum()
    answer = torch.log_softmax(logits[p + K + 1:-1], -1).gather(-1, torch.tensor(ex.answer)[:, None]).sum()
    return latent_logp + logdet, answer, len(ex.answer)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_nfcot_stage2_loss_and_gradients_equal_the_naive_forward(backbone):
    model = model_under_test(backbone)
    e = torch.randn(len(EXAMPLES), K, D, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(3)
    parts = model(stream_batch(EXAMPLES, PAD), e, NOISE)
    torch.manual_seed(3)  # the same noise draws as the model's
    noisy = (e.float() + NOISE * torch.randn_like(e.float())).double()
    rows = [naive_losses(model, ex, noisy[i]) for i, ex in enumerate(EXAMPLES)]
    flow_nll = -sum(r[0] for r in rows) / len(rows) / (K * D)
    text_ce = -sum(r[1] for r in rows) / sum(r[2] for r in rows)
    torch.testing.assert_close(parts["flow_nll"].double(), flow_nll, rtol=1e-5, atol=0.0)
    torch.testing.assert_close(parts["text_ce"].double(), text_ce, rtol=1e-5, atol=0.0)
    assert_same_loss_and_grads(model, parts["loss"], flow_nll + text_ce)

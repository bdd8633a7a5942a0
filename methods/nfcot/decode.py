"""Batched NF-CoT decoding: K latent steps with the NF head, then the answer with the LM head.

u_i = mu_i + T_z * sigma_i * z_i (T_z = 0: greedy latents). Every sample records the exact model
log-likelihood of what it produced: log N(u_i; mu_i, sigma_i) per latent and log softmax (T = 1) per
answer token, i.e. the policy's log pi(u, answer | q) used by latent GRPO. With `use_cache=False`
each step re-runs the whole stream (the reference the KV-cached path must match). All randomness
comes from one CPU generator drawn in the same order in both paths (the answer tokens through the
shared sampler, harness/generation.sample_next), so a seed fixes the output.
"""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import DynamicCache

from nfbench.methods.nfcot.head import gaussian_logp
from nfbench.harness.batching import pad, positions
from nfbench.harness.generation import Sampling, sample_next
from nfbench.methods.nfcot.model import NFCoTModel, StreamBatch


@dataclass
class DecodeOutput:
    latents: torch.Tensor  # (B, K, D)
    latent_logp: torch.Tensor  # (B, K)
    answer_ids: list[list[int]]  # up to and including the stop token
    answer_logp: list[list[float]]  # one per answer token
    prompt_ids: torch.Tensor  # (B, P) left-padded, as fed
    prompt_mask: torch.Tensor
    forward_calls: int = 0
    kv_cache_bytes: int = 0  # at the end of reasoning
    stopped: list[bool] = field(default_factory=list)


def cache_bytes(past) -> int:
    if past is None:
        return 0
    return sum(t.numel() * t.element_size() for layer in past.layers for t in (layer.keys, layer.values)
               if t is not None)


class _Stream:
    """The growing input sequence, fed either incrementally (KV cache) or whole each step."""

    def __init__(self, model: NFCoTModel, embeds: torch.Tensor, mask: torch.Tensor, use_cache: bool,
                 meter: Any = None):
        self.model, self.use_cache, self.meter = model, use_cache, meter
        self.embeds, self.mask = embeds, mask
        self.past = DynamicCache() if use_cache else None
        self.calls = 0
        self.pending = embeds  # not yet seen by the model
        self.pending_mask = mask

    def step(self, logits: bool = False) -> torch.Tensor:
        """Hidden state of the last position (fed positions are charged to the meter)."""
        self.calls += 1
        counts = self.pending_mask.sum(1).tolist()
        with self.meter.forward(counts, logits_positions=int(logits)) if self.meter else nullcontext():
            pos = positions(self.mask)
            if self.use_cache:
                n = self.pending.shape[1]
                h, self.past = self.model.run(self.pending, self.mask, pos[:, -n:], self.past)
            else:
                h, _ = self.model.run(self.embeds, self.mask, pos)
            h = h[:, -1]
        self.pending, self.pending_mask = self.pending[:, :0], self.pending_mask[:, :0]
        return h

    def append(self, x: torch.Tensor, row_mask: torch.Tensor | None = None) -> None:
        """One new position per row; row_mask 0 = a finished row riding along (never attended to)."""
        m = (row_mask if row_mask is not None else self.mask.new_ones(x.shape[0]))[:, None].to(self.mask)
        self.pending = torch.cat([self.pending, x[:, None]], dim=1)
        self.pending_mask = torch.cat([self.pending_mask, m], dim=1)
        self.embeds = torch.cat([self.embeds, x[:, None]], dim=1)
        self.mask = torch.cat([self.mask, m], dim=1)


@torch.no_grad()
def sample(model: NFCoTModel, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, *, t_z: float,
           temperature: float, top_p: float, max_new_tokens: int, stop_ids: set[int], pad_id: int,
           generator: torch.Generator, use_cache: bool = True, meter: Any = None,
           slots: int | None = None) -> DecodeOutput:
    """meter: a harness CostMeter (reasoning_positions = K latent steps per sample). slots: K' latent
    steps instead of the trained K (a thinking-budget sweep)."""
    b, k, d = prompt_ids.shape[0], slots or model.shape.slots, model.shape.dim
    dev = prompt_ids.device
    embeds = model.token_embeds(prompt_ids)
    dtype = embeds.dtype
    embeds = torch.cat([embeds, model.embed.marker("bot", b).to(dtype)], dim=1)
    mask = torch.cat([prompt_mask, prompt_mask.new_ones(b, 1)], dim=1)
    stream = _Stream(model, embeds, mask, use_cache, meter)

    latents, latent_logp = [], []
    for i in range(k):
        mu, sigma = model.head(stream.step())
        z = torch.randn(b, d, generator=generator).to(dev)
        u = mu + t_z * sigma * z
        latents.append(u)
        latent_logp.append(gaussian_logp(u, mu, sigma))
        stream.append(model.embed.latents(u).to(dtype))
        for row in range(b) if meter else ():
            meter.count(row)
    stream.append(model.embed.marker("eot", b)[:, 0].to(dtype))
    kv_bytes = cache_bytes(stream.past)

    answer_ids: list[list[int]] = [[] for _ in range(b)]
    answer_logp: list[list[float]] = [[] for _ in range(b)]
    done = torch.zeros(b, dtype=torch.bool)
    for t in range(max_new_tokens):
        logits = model.backbone.get_output_embeddings()(stream.step(logits=True)).float()
        if t == 0 and meter:
            for row in range(b):
                meter.set_phase(row, "answer")
        tok = sample_next(logits, Sampling(temperature, top_p), generator)
        logp = logits.log_softmax(-1).gather(-1, tok[:, None]).squeeze(-1)
        for i in range(b):
            if done[i]:
                continue
            answer_ids[i].append(int(tok[i]))
            answer_logp[i].append(float(logp[i]))
            if meter and int(tok[i]) not in stop_ids:  # as for text methods: the stop token is free
                meter.count(i)
            if int(tok[i]) in stop_ids:
                done[i] = True
                if meter:
                    meter.finish(i)
        if bool(done.all()):
            break
        tok = torch.where(done.to(dev), torch.full_like(tok, pad_id), tok)
        stream.append(model.token_embeds(tok), (~done).long().to(dev))
    return DecodeOutput(torch.stack(latents, 1), torch.stack(latent_logp, 1), answer_ids, answer_logp,
                        prompt_ids, prompt_mask, stream.calls, kv_bytes, stopped=done.tolist())


def answer_batch(answer_ids: list[list[int]], pad_id: int, device: torch.device | str) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded (ids, mask) of decoded answers, for teacher-forced re-scoring."""
    return pad(answer_ids, pad_id, "right", device)


def rescore(model: NFCoTModel, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor,
            out: DecodeOutput, pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Teacher-forced (latent_logp (B, K), token_logp (B, A), answer_mask) of a decoded batch."""
    ids, mask = answer_batch(out.answer_ids, pad_id, prompt_ids.device)
    batch = StreamBatch(prompt_ids, prompt_mask, ids, mask)
    latent_logp, token_logp = model.teacher_forced(batch, out.latents)
    return latent_logp, token_logp, mask

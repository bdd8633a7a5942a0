"""Batched, KV-cached decoding that every method (text or latent) drives the same way.

    state = DecodeState.empty(model)
    logits = step(model, state, input_ids=ids, new_mask=mask, meter=m, prompt=True).logits  # prefill
    out = step(model, state, inputs_embeds=h[:, None])      # a latent method feeds a vector ...
    tokens = decode(model, state, out.logits, ...)          # ... and then decodes text as usual

Batches are left-padded (harness/batching.py); `DecodeState` keeps the cache, the attention mask
over every cached position and each row's next position id, so padded rows get the same positions
(and logits, up to float rounding) as they would alone. `sample_next` is the one token sampler: text
methods and NF-CoT's own decoder pick their tokens with it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from transformers import DynamicCache

from nfbench.harness.batching import pad
from nfbench.harness.cost import CostMeter


@dataclass
class Sampling:
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0


@dataclass
class StepOutput:
    logits: torch.Tensor  # [B, V] at each row's last fed position
    hidden: torch.Tensor | None  # [B, D] last layer's hidden state there (when asked for)


@dataclass
class DecodeState:
    cache: Any  # transformers Cache, grown in place by every step
    attention_mask: torch.Tensor  # [B, cached positions], 1 = real
    next_position: torch.Tensor  # [B] position id of each row's next real position

    @classmethod
    def empty(cls, model: torch.nn.Module, batch_size: int) -> DecodeState:
        device = next(model.parameters()).device
        return cls(DynamicCache(config=model.config), torch.zeros(batch_size, 0, dtype=torch.long, device=device),
                   torch.zeros(batch_size, dtype=torch.long, device=device))


@torch.no_grad()
def step(model: torch.nn.Module, state: DecodeState, *, input_ids: torch.Tensor | None = None,
         inputs_embeds: torch.Tensor | None = None, new_mask: torch.Tensor | None = None,
         meter: CostMeter | None = None, prompt: bool = False, hidden: bool = False) -> StepOutput:
    """Feed n new positions per row ([B, n] ids or [B, n, D] embeddings) through the cached model.

    new_mask [B, n]: 1 for real positions, 0 for padding (left padding of a prompt, or rows that
    have finished and only ride along). Returns logits (and the last hidden state) at the last
    position of each row.
    """
    x = input_ids if input_ids is not None else inputs_embeds
    batch, n = x.shape[:2]
    if new_mask is None:
        new_mask = torch.ones(batch, n, dtype=torch.long, device=x.device)
    new_mask = new_mask.long()
    positions = (state.next_position[:, None] + new_mask.cumsum(1) - 1).clamp(min=0)
    state.attention_mask = torch.cat([state.attention_mask, new_mask], dim=1)
    counts = new_mask.sum(1)
    kwargs = dict(input_ids=input_ids, inputs_embeds=inputs_embeds, attention_mask=state.attention_mask,
                  position_ids=positions, past_key_values=state.cache, use_cache=True,
                  output_hidden_states=hidden, logits_to_keep=1)
    if meter is None:
        out = model(**kwargs)
    else:
        with meter.forward(counts.tolist(), logits_positions=1, prompt=prompt):
            out = model(**kwargs)
    state.cache = out.past_key_values
    state.next_position = state.next_position + counts
    return StepOutput(out.logits[:, -1].float(), out.hidden_states[-1][:, -1] if hidden else None)


def sample_next(logits: torch.Tensor, sampling: Sampling, generator: torch.Generator | None = None) -> torch.Tensor:
    """[B, V] logits -> [B] token ids: argmax at temperature 0, else nucleus sampling by the inverse CDF
    of one uniform draw per row from `generator` (a CPU generator: the same draws on every device, and
    exactly one per row and step whatever the distribution, so a cached and an uncached decoder that
    draw in the same order sample the same tokens)."""
    if sampling.temperature <= 0:
        return logits.argmax(-1)
    uniform = torch.rand(logits.shape[0], generator=generator).to(logits.device)
    probs = (logits.float() / sampling.temperature).softmax(-1)
    sorted_p, order = probs.sort(-1, descending=True)
    sorted_p = sorted_p * ((sorted_p.cumsum(-1) - sorted_p) < sampling.top_p)  # the smallest prefix reaching top_p
    cum = sorted_p.cumsum(-1)
    idx = (cum < uniform[:, None] * cum[:, -1:]).sum(-1).clamp(max=probs.shape[-1] - 1)
    return order.gather(-1, idx[:, None]).squeeze(-1)


def make_generator(seed: int) -> torch.Generator:
    """The random source of one generation batch (CPU, see sample_next)."""
    return torch.Generator().manual_seed(seed)


def decode(model: torch.nn.Module, state: DecodeState, logits: torch.Tensor, *, max_new_tokens: int,
           sampling: Sampling, stop_ids: set[int], generator: torch.Generator | None = None,
           meter: CostMeter | None = None, on_token: Callable[[int, int], bool] | None = None,
           done: list[bool] | None = None) -> list[list[int]]:
    """Sample up to max_new_tokens per row from `logits` on, feeding each token back through the cache.

    A row stops at a token in stop_ids (not included in its output) or when on_token(row, id)
    returns True (included; e.g. a stop string completed). Returns each row's new token ids.
    """
    batch = logits.shape[0]
    done = list(done) if done is not None else [False] * batch
    out: list[list[int]] = [[] for _ in range(batch)]
    for t in range(max_new_tokens):
        if all(done):
            break
        tokens = sample_next(logits, sampling, generator).tolist()
        for i, tok in enumerate(tokens):
            if done[i]:
                continue
            if tok not in stop_ids:
                out[i].append(tok)
                if meter is not None:
                    meter.count(i)
            if tok in stop_ids or (on_token is not None and on_token(i, tok)):
                done[i] = True
                if meter is not None:
                    meter.finish(i)
        if all(done) or t == max_new_tokens - 1:
            break
        # finished rows ride along with a masked dummy position (never attended to)
        ids = torch.tensor([[tok] for tok in tokens], device=state.attention_mask.device)
        mask = torch.tensor([[0 if d else 1] for d in done], device=ids.device)
        logits = step(model, state, input_ids=ids, new_mask=mask, meter=meter).logits
    if meter is not None:
        for i in range(batch):
            meter.finish(i)
    return out


@torch.no_grad()
def generate_ids(model: torch.nn.Module, prompts: list[list[int]], pad_id: int, *, max_new_tokens: int,
                 sampling: Sampling = Sampling(), stop_ids: set[int] = frozenset(), seed: int = 0,
                 meter: CostMeter | None = None, on_token: Callable[[int, int], bool] | None = None) -> list[list[int]]:
    """Prefill a left-padded batch of prompts, then decode (the whole loop for text methods)."""
    ids, mask = pad(prompts, pad_id, "left", next(model.parameters()).device)
    state = DecodeState.empty(model, len(prompts))
    logits = step(model, state, input_ids=ids, new_mask=mask, meter=meter, prompt=True).logits
    return decode(model, state, logits, max_new_tokens=max_new_tokens, sampling=sampling, stop_ids=set(stop_ids),
                  generator=make_generator(seed), meter=meter, on_token=on_token)


@torch.no_grad()
def greedy_no_cache(model: torch.nn.Module, prompt: list[int], max_new_tokens: int,
                    stop_ids: set[int] = frozenset()) -> list[int]:
    """Reference decoder: recompute the whole sequence for every token (no KV cache, batch 1)."""
    device = next(model.parameters()).device
    seq = list(prompt)
    for _ in range(max_new_tokens):
        logits = model(input_ids=torch.tensor([seq], device=device), use_cache=False).logits[0, -1]
        tok = int(logits.argmax())
        if tok in stop_ids:
            break
        seq.append(tok)
    return seq[len(prompt):]

"""Coconut's continuous thoughts: the last-layer hidden state of the previous position is fed back,
unchanged, as the next input embedding. n latents need n+1 sequential passes; each pass reuses the
KV cache of the previous ones, in training too, and gradients flow through the whole chain.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from transformers import DynamicCache

from nfbench.harness.batching import positions
from nfbench.harness.cost import CostMeter
from nfbench.harness.generation import DecodeState, StepOutput, step


def _pass(model, embeds, attention_mask, position_ids, cache):
    out = model(inputs_embeds=embeds, attention_mask=attention_mask, position_ids=position_ids,
                past_key_values=cache, use_cache=True, output_hidden_states=True)
    return out.logits, out.hidden_states[-1]


def latent_forward(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, latent_id: int,
                   edit_thought: Callable[[torch.Tensor], torch.Tensor] | None = None) -> tuple[torch.Tensor, int]:
    """Logits (B, L, V) of sequences whose `latent_id` slots hold continuous thoughts.

    Every row's latents must be contiguous and start in the same column (curriculum.collate
    aligns them). Returns the logits and the number of sequential passes made. `edit_thought` (probes
    only, e.g. zeroing or shuffling the thoughts) maps each [B, 1, D] thought before it is fed back.
    """
    edit = edit_thought or (lambda thought: thought)
    embed = getattr(model, "module", model).get_input_embeddings()  # under DDP the model is wrapped
    tokens = embed(input_ids)
    is_latent = input_ids == latent_id
    n_max = int(is_latent.sum(1).max())
    pos = positions(attention_mask)
    cache = DynamicCache()
    if n_max == 0:
        return _pass(model, tokens, attention_mask, pos, cache)[0], 1
    start = int(is_latent.float().argmax(1)[is_latent.any(1)].min())
    expected = torch.arange(input_ids.shape[1], device=input_ids.device)[None] - start
    counts = is_latent.sum(1, keepdim=True)
    if not torch.equal(is_latent, (expected >= 0) & (expected < counts)):
        raise ValueError("latent slots must be contiguous and start in the same column")

    logits, hidden = _pass(model, tokens[:, :start], attention_mask[:, :start], pos[:, :start], cache)
    chunks, thought = [logits], hidden[:, -1:]
    for col in range(start, start + n_max - 1):  # one pass per latent but the last
        x = torch.where(is_latent[:, col, None, None], edit(thought), tokens[:, col:col + 1])
        logits, hidden = _pass(model, x, attention_mask[:, :col + 1], pos[:, col:col + 1], cache)
        chunks.append(logits)
        thought = hidden[:, -1:]
    # the last latent needs no feedback from its own output, so it goes with everything after it
    col = start + n_max - 1
    last = torch.where(is_latent[:, col, None, None], edit(thought), tokens[:, col:col + 1])
    x = torch.cat([last, tokens[:, col + 1:]], 1)
    chunks.append(_pass(model, x, attention_mask, pos[:, col:], cache)[0])
    return torch.cat(chunks, 1), n_max + 1


@torch.no_grad()
def think(model, state: DecodeState, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, n_latents: int,
          bot_id: int, eot_id: int, meter: CostMeter | None = None,
          on_thought: Callable[[torch.Tensor, torch.Tensor], None] | None = None) -> StepOutput:
    """Inference prefix: prompt + `<bot>` + n_latents thoughts + `<eot>`, batched and KV-cached in
    `state` (left-padded prompts). Returns the step output at `<eot>`: the first answer logits.
    `on_thought(thought [B, D], logits [B, V])` sees each thought before it is fed, with the LM head's
    logits over that same hidden state (what the model would have said instead)."""
    batch = prompt_ids.shape[0]
    marker = lambda tok: torch.full((batch, 1), tok, dtype=prompt_ids.dtype, device=prompt_ids.device)  # noqa: E731
    ids = torch.cat([prompt_ids, marker(bot_id)], 1)
    mask = torch.cat([prompt_mask, torch.ones_like(marker(1))], 1)
    out = step(model, state, input_ids=ids, new_mask=mask, meter=meter, prompt=True, hidden=True)
    if n_latents == 0:
        return step(model, state, input_ids=marker(eot_id), meter=meter)
    embed = model.get_input_embeddings()
    for i in range(n_latents):
        if on_thought is not None:
            on_thought(out.hidden, out.logits)
        x = out.hidden[:, None]
        if i == n_latents - 1:  # the last thought and `<eot>` share a pass
            x = torch.cat([x, embed(marker(eot_id)).to(x.dtype)], 1)
        out = step(model, state, inputs_embeds=x, meter=meter, hidden=i < n_latents - 1)
    if meter is not None:
        for row in range(batch):
            meter.count(row, n_latents)
    return out

"""Training examples for NF-CoT: token ids of (prompt, CoT, answer), and their padded batches.

The CoT feeds the VAE only; the stream sees prompt and answer, with the K latents in between.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from nfbench.harness.errors import UserError
from nfbench.harness.sft_data import SFTExample
from nfbench.methods.nfcot.model import StreamBatch


@dataclass
class Example:
    index: int  # row of the latent-target table
    prompt: list[int]
    cot: list[int]
    answer: list[int]  # ends with the stop token


def prompt_ids(tokenizer: Any, prompt: str) -> list[int]:
    """The prompt as the stream starts it: <bos> (where the tokenizer has one) then the text."""
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    return ([tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []) + ids


def build_examples(sft: list[SFTExample], tokenizer: Any, max_cot: int) -> list[Example]:
    """SFT records (harness/sft_data.py: prompt, reasoning, solution) -> token ids."""
    enc = lambda s: tokenizer(s, add_special_tokens=False)["input_ids"]
    out = []
    for i, ex in enumerate(sft):
        cot = enc(ex.reasoning)[:max_cot]
        if not cot:
            raise UserError(f"training example {ex.task_id} has no chain of thought",
                            "NF-CoT distils latents from explicit CoT: train on data with reasoning (synth)")
        out.append(Example(i, prompt_ids(tokenizer, ex.prompt), cot, enc(ex.solution) + [tokenizer.eos_token_id]))
    return out


def pad(rows: list[list[int]], pad_id: int, left: bool) -> tuple[torch.Tensor, torch.Tensor]:
    n = max(1, max(len(r) for r in rows))
    ids = torch.full((len(rows), n), pad_id, dtype=torch.long)
    mask = torch.zeros(len(rows), n, dtype=torch.long)
    for i, r in enumerate(rows):
        if not r:
            continue
        sl = slice(n - len(r), n) if left else slice(0, len(r))
        ids[i, sl] = torch.tensor(r, dtype=torch.long)
        mask[i, sl] = 1
    return ids, mask


def stream_batch(examples: list[Example], pad_id: int) -> StreamBatch:
    p, pm = pad([e.prompt for e in examples], pad_id, left=True)
    a, am = pad([e.answer for e in examples], pad_id, left=False)
    return StreamBatch(p, pm, a, am)


def cot_batch(examples: list[Example], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    return pad([e.cot for e in examples], pad_id, left=False)

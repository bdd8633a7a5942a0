"""Training examples for NF-CoT: token ids of (prompt, CoT, answer), and their padded batches.

The CoT feeds the VAE only; the stream sees prompt and answer (as the prompt format writes them, the
same as every text method's), with the K latents in between.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from nfbench.harness.batching import pad
from nfbench.harness.errors import UserError
from nfbench.harness.sft_data import SFTExample
from nfbench.methods.nfcot.model import StreamBatch
from nfbench.methods.prompt_format import PromptFormat


@dataclass
class Example:
    index: int  # row of the latent-target table
    prompt: list[int]
    cot: list[int]
    answer: list[int]  # ends with the stop token


def build_examples(sft: list[SFTExample], fmt: PromptFormat, max_cot: int) -> list[Example]:
    """SFT records (harness/sft_data.py: prompt, reasoning, solution) -> token ids."""
    tok = fmt.tokenizer
    enc = lambda s: tok(s, add_special_tokens=False)["input_ids"]  # noqa: E731
    out = []
    for i, ex in enumerate(sft):
        cot = enc(ex.reasoning)[:max_cot]
        if not cot:
            raise UserError(f"training example {ex.task_id} has no chain of thought",
                            "NF-CoT distils latents from explicit CoT: train on data with reasoning (synth)")
        out.append(Example(i, fmt.example_prompt_ids(ex), cot, enc(fmt.answer_target(ex)) + [tok.eos_token_id]))
    return out


def stream_batch(examples: list[Example], pad_id: int) -> StreamBatch:
    p, pm = pad([e.prompt for e in examples], pad_id, "left")
    a, am = pad([e.answer for e in examples], pad_id, "right")
    return StreamBatch(p, pm, a, am)


def cot_batch(examples: list[Example], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    return pad([e.cot for e in examples], pad_id, "right")

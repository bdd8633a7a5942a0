"""The pieces every method that runs on a text stream shares, to compose rather than inherit.

A batch of prompts goes into one KV cache (left-padded, harness/generation.py); a method then puts its
reasoning after them (text, concept tokens, continuous thoughts, latents, pauses) and the answer is
decoded from the same cache, until a stop token or the end of the answer's code block. Every sample
becomes a Generation whose program comes from the format's one answer -> program path.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from nfbench.harness.batching import pad
from nfbench.harness.cost import CostMeter
from nfbench.harness.generation import DecodeState, Sampling, decode, make_generator, step
from nfbench.harness.types import Cost, Generation
from nfbench.methods.base import Decoding, Generator, Job
from nfbench.methods.prompt_format import PromptFormat


@dataclass
class Batch:
    """One batch of prompts, fed and metered."""

    jobs: list[Job]
    prompts: list[str]  # the exact text each sample's model read
    ids: torch.Tensor  # [B, T] left-padded prompt ids
    mask: torch.Tensor
    meter: CostMeter
    state: DecodeState

    @property
    def size(self) -> int:
        return len(self.jobs)


class TextStream:
    """A backbone and its prompt format (and the checkpoint it came from, for the run manifest): what
    the generators of text-stream methods are built from."""

    def __init__(self, backbone: Any, fmt: PromptFormat, checkpoint: Path | None = None):
        self.backbone, self.fmt, self.checkpoint = backbone, fmt, checkpoint

    @property
    def tokenizer(self) -> Any:
        return self.backbone.tokenizer

    def batch(self, jobs: list[Job], phase: str = "reasoning") -> Batch:
        """Prompts of a batch on the device, with an empty cache and a cost meter (nothing fed yet)."""
        bb = self.backbone
        prompts = [self.fmt.prompt(self.fmt.statement(p)) for p, _ in jobs]
        ids, mask = pad([self.fmt.prompt_ids(p) for p in prompts], self.tokenizer.pad_token_id, "left", bb.device)
        meter = CostMeter(bb.model.config, len(jobs), bb.device, bb.dtype, phase=phase)
        return Batch(jobs, prompts, ids, mask, meter, DecodeState.empty(bb.model, len(jobs)))

    def prefill(self, batch: Batch, extra: torch.Tensor | None = None, hidden: bool = False) -> Any:
        """Feed the prompts (and `extra` ids after each, e.g. a `<bot>` marker) in one pass."""
        ids, mask = batch.ids, batch.mask
        if extra is not None:
            ids, mask = torch.cat([ids, extra], 1), torch.cat([mask, torch.ones_like(extra)], 1)
        return step(self.backbone.model, batch.state, input_ids=ids, new_mask=mask, meter=batch.meter,
                    prompt=True, hidden=hidden)

    def answer(self, batch: Batch, logits: torch.Tensor, decoding: Decoding, seed: int, opened: str | list[str] = "",
               on_token: Callable[[int, str], bool] | None = None, done: list[bool] | None = None) -> list[list[int]]:
        """Decode every row's answer from `logits` on (the cache holds its reasoning). `opened`: answer
        text already fed (a chat answer's opening fence), one for all rows or one per row; `on_token(row,
        text so far)` may end a row early; `done` rows are not decoded. Rows stop at a stop token, once
        their code block closes (chat), or at max_new_tokens."""
        texts = [opened] * batch.size if isinstance(opened, str) else list(opened)

        def stop(i: int, t: int) -> bool:
            texts[i] += self.tokenizer.decode([t])
            return (on_token is not None and on_token(i, texts[i])) or self.fmt.answer_done(texts[i])

        return decode(self.backbone.model, batch.state, logits, max_new_tokens=decoding.max_new_tokens,
                      sampling=Sampling(decoding.temperature, decoding.top_p), stop_ids=self.fmt.stop_ids,
                      generator=make_generator(seed), meter=batch.meter, on_token=stop, done=done)

    def feed(self, batch: Batch, rows: list[list[int]]) -> torch.Tensor:
        """Feed each row its own ids (any lengths, left-padded with masked positions) in one pass; returns
        the logits after each row's last id (a row given none keeps garbage logits: mark it done)."""
        ids, mask = pad(rows, self.tokenizer.pad_token_id, "left", self.backbone.device)
        return step(self.backbone.model, batch.state, input_ids=ids, new_mask=mask, meter=batch.meter).logits

    def text(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def record(self, job: Job, prompt: str, raw_output: str, answer: str, reasoning: str | None, cost: Cost,
               **extra: Any) -> Generation:
        """A sample's record; its program is the format's reading of `answer`."""
        problem, idx = job
        return Generation(task_id=problem.task_id, sample_idx=idx, prompt=prompt, raw_output=raw_output,
                          solution=self.fmt.program(problem, answer), reasoning=reasoning, cost=cost,
                          extra={**extra, "format": self.fmt.kind})



class StreamGenerator(Generator):
    """A generator on a text stream (set `self.stream`): the run manifest names its backbone and checkpoint."""

    stream: TextStream

    def manifest_info(self) -> dict[str, Any]:
        c = self.stream.checkpoint
        return {**self.stream.backbone.manifest_info(), "checkpoint": str(c) if c else None}

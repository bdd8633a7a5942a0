"""From problems to `Generation` records: prompt formatting, batched NF-CoT decoding, cost, likelihoods.

Used by `nfbench run` and by the validation / RL rollouts during training (same code path).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from nfbench.harness.cost import CostMeter
from nfbench.harness.types import Generation, Problem
from nfbench.methods.nfcot.data import pad, prompt_ids
from nfbench.methods.nfcot.decode import DecodeOutput, sample
from nfbench.methods.nfcot.model import NFCoTModel


@dataclass
class DecodeSettings:
    t_z: float  # latent temperature (0 = greedy latents, the NF head's means)
    temperature: float  # answer temperature (0 = greedy)
    top_p: float
    max_new_tokens: int


def problem_prompt(task: Any, problem: Problem) -> str:
    """The compact prompt text the stream was trained on (the task's format where it has one)."""
    return task.format_example(problem)[0] if hasattr(task, "format_example") else problem.prompt


def solution_of(task: Any, problem: Problem, answer: str) -> str:
    if hasattr(task, "parse_answer"):
        return task.parse_answer(problem, answer)
    return answer if answer.endswith("\n") else answer + "\n"


@torch.no_grad()
def generate_batch(model: NFCoTModel, tokenizer: Any, task: Any, jobs: list[tuple[Problem, int]], seed: int,
                   settings: DecodeSettings, thoughts: Any = None) -> tuple[list[Generation], DecodeOutput]:
    """One batch of (problem, sample_idx) jobs; `thoughts(latents, prompt_ids, mask) -> list[str]`
    optionally renders the latents as text (diagnostics, not charged to the sample's cost)."""
    device = next(model.parameters()).device
    texts = [problem_prompt(task, p) for p, _ in jobs]
    ids, mask = pad([prompt_ids(tokenizer, t) for t in texts], tokenizer.pad_token_id, left=True)
    ids, mask = ids.to(device), mask.to(device)
    meter = CostMeter(model.backbone.config, len(jobs), device, next(model.backbone.parameters()).dtype)
    gen = torch.Generator().manual_seed(seed)
    stop = {tokenizer.eos_token_id}
    out = sample(model, ids, mask, t_z=settings.t_z, temperature=settings.temperature, top_p=settings.top_p,
                 max_new_tokens=settings.max_new_tokens, stop_ids=stop, pad_id=tokenizer.pad_token_id,
                 generator=gen, meter=meter)
    costs = meter.results()
    rendered = thoughts(out.latents, ids, mask) if thoughts else [None] * len(jobs)
    gens = []
    for i, ((problem, idx), text) in enumerate(zip(jobs, texts)):
        answer = tokenizer.decode(out.answer_ids[i], skip_special_tokens=True)
        latent_lp = out.latent_logp[i]
        gens.append(Generation(
            task_id=problem.task_id, sample_idx=idx, prompt=text, raw_output=answer,
            solution=solution_of(task, problem, answer),
            reasoning=None if rendered[i] is None else f"[{model.shape.slots} latent thoughts] {rendered[i]}",
            cost=costs[i],
            extra={"latent_logp": float(latent_lp.sum()), "answer_logp": float(sum(out.answer_logp[i])),
                   "latent_logp_per_step": [round(float(x), 4) for x in latent_lp],
                   "latent_steps": model.shape.slots, "latent_dim": model.shape.dim, "t_z": settings.t_z,
                   "stopped": out.stopped[i]}))
    return gens, out

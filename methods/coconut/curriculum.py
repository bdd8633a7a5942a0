"""Coconut's multi-stage curriculum: which CoT steps become latent thoughts at each epoch.

Stage s (= epoch // epochs_per_stage) replaces the first s reasoning steps with s*c continuous
thoughts between `<bot>` and `<eot>`; past `max_latent_stage` every step is removed. Sequences are
`question <bot> <latent>*n <eot> remaining-steps answer <eos>`, supervised only after `<eot>`.
Plain data here (token id lists); methods/coconut/latent.py runs the model on them.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from nfbench.harness.batching import IGNORE  # label of positions without loss (question, markers, latents, padding)



def stage_at_epoch(epoch: int, epochs_per_stage: int) -> int:
    return epoch // max(1, epochs_per_stage)


def stage_runs(num_epochs: int, epochs_per_stage: int, start_epoch: int = 0) -> list[tuple[int, int]]:
    """[(stage, epochs)] for epochs start_epoch..num_epochs-1, consecutive epochs of one stage merged:
    the trainer runs once per entry, so the optimizer is fresh at every stage switch."""
    runs: list[tuple[int, int]] = []
    for epoch in range(start_epoch, num_epochs):
        stage = stage_at_epoch(epoch, epochs_per_stage)
        if runs and runs[-1][0] == stage:
            runs[-1] = (stage, runs[-1][1] + 1)
        else:
            runs.append((stage, 1))
    return runs


def layout(n_steps: int, stage: int, max_latent_stage: int, c_thought: int,
           pad_latent_to_max: bool) -> tuple[int, int]:
    """(reasoning steps removed, latent thoughts) for a sample with n_steps steps at a stage.

    With pad_latent_to_max (the reference's setting for GSM8k and ProsQA) the number of latents
    depends only on the stage, so training and inference use the same fixed count; otherwise short
    samples get c thoughts per step they actually lose.
    """
    if stage > max_latent_stage:
        removed = n_steps
        latent_stage = max_latent_stage if pad_latent_to_max else min(n_steps, max_latent_stage)
    else:
        removed = min(stage, n_steps)
        latent_stage = stage if pad_latent_to_max else removed
    return removed, latent_stage * c_thought


def inference_latents(max_latent_stage: int, c_thought: int) -> int:
    """Latents used at test time: those of the final (all-steps-removed, padded) stage."""
    return max_latent_stage * c_thought


@dataclass
class Example:
    input_ids: list[int]
    labels: list[int]
    latent_start: int  # index of the first latent slot (= one past `<bot>`)
    n_latents: int


def build_example(question: list[int], steps: list[list[int]], answer: list[int], stage: int,
                  ids: dict[str, int], *, max_latent_stage: int, c_thought: int,
                  pad_latent_to_max: bool, rng: random.Random | None = None,
                  uniform_prob: float = 0.0) -> Example:
    """One training sequence; with probability uniform_prob the stage is drawn uniformly from
    0..n_steps instead (the reference's stage mixing)."""
    if rng is not None and uniform_prob > 0 and rng.random() < uniform_prob:
        stage = rng.randint(0, len(steps))
    removed, n_latents = layout(len(steps), stage, max_latent_stage, c_thought, pad_latent_to_max)
    head = question + [ids["bot"]] + [ids["latent"]] * n_latents + [ids["eot"]]
    tail = [t for step in steps[removed:] for t in step] + answer
    return Example(head + tail, [IGNORE] * len(head) + tail, len(question) + 1, n_latents)


@dataclass
class Batch:
    input_ids: list[list[int]]
    labels: list[list[int]]
    attention_mask: list[list[int]]


def collate(examples: list[Example], pad_id: int) -> Batch:
    """Left-pad so that every sample's first latent lands in the same column (one sequential pass
    per latent then serves the whole batch), right-pad to the longest sequence."""
    start = max(e.latent_start for e in examples)
    lefts = [start - e.latent_start for e in examples]
    width = max(left + len(e.input_ids) for left, e in zip(lefts, examples))
    out = Batch([], [], [])
    for left, e in zip(lefts, examples):
        right = width - left - len(e.input_ids)
        out.input_ids.append([pad_id] * left + e.input_ids + [pad_id] * right)
        out.labels.append([IGNORE] * left + e.labels + [IGNORE] * right)
        out.attention_mask.append([0] * left + [1] * len(e.input_ids) + [0] * right)
    return out

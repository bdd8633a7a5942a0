"""What `nfbench train` trains on, and which runs a trained checkpoint serves.

A training is *for a task* (`--task`): the task whose train split it may learn from (decontaminated,
tasks/training.py), whose validation split validates it and whose unit tests reward latent RL. It
learns from *SFT records* (prompt, reasoning, solution: harness/sft_data.py), which `--data` names:
  - a task name: that task's own records (synth: its ground-truth chains; mbpp: the reference
    programs without reasoning, enough for `direct` only);
  - a JSONL set from `nfbench data` (distilled by a teacher or imported);
  - nothing: the task's CoT set, the same for every method so that they differ only in how they
    reason: synth's own chains, or for a task without chains (mbpp) `results/data/<task>-cot.jsonl`,
    where `nfbench data distill` writes by default.

A checkpoint records its task; `nfbench run --task T` takes checkpoints trained for T's training task
(`TRAINED_ON`): every Python code benchmark is served by a model trained on MBPP's train split, the
synthetic suite by one trained on synth.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nfbench.harness.checkpoints import data_sha256, is_data_file
from nfbench.harness.errors import UserError
from nfbench.harness.sft_data import SFTExample

DEFAULT_TASK = "mbpp"
# run task -> the task its models are trained for
TRAINED_ON = {"mbpp": "mbpp", "mbpp+": "mbpp", "humaneval": "mbpp", "humaneval+": "mbpp",
              "livecodebench": "mbpp", "synth": "synth"}


def training_task(run_task: str) -> str:
    return TRAINED_ON.get(run_task, run_task)


def default_cot_set(task: str) -> Path:
    """Where `nfbench data distill --task T` writes, and where `nfbench train --task T` looks."""
    from nfbench.harness.store import results_root

    return results_root() / "data" / f"{task}-cot.jsonl"


@dataclass
class TrainingSet:
    task_name: str
    task: Any  # the Task
    examples: list[SFTExample]
    data: str  # what the records came from: a task name or a file path

    @property
    def sha256(self) -> str:
        return data_sha256(e.to_dict() for e in self.examples)


def resolve(cfg: Any) -> TrainingSet:
    """The task and the SFT records of a `nfbench train` config (see the module docstring)."""
    from nfbench.harness.pipeline import open_task
    from nfbench.harness.sft_data import read_sft, task_examples

    names_task = cfg.data is not None and not is_data_file(cfg.data)
    task_name = cfg.task or (cfg.data if names_task else DEFAULT_TASK)
    if names_task and cfg.data != task_name:
        raise UserError(f"--data {cfg.data} is another task than --task {task_name}",
                        f"pass a JSONL set for {task_name} (`nfbench data`) or train for --task {cfg.data}")
    task = open_task(task_name, cfg.data_dir, cfg.task_options)
    if names_task:
        return TrainingSet(task_name, task, task_examples(task, "train", require_reasoning=False), task_name)
    if cfg.data is not None:
        return TrainingSet(task_name, task, read_sft(cfg.data), cfg.data)
    own = task_examples(task, "train", require_reasoning=False)
    if any(e.reasoning for e in own):
        return TrainingSet(task_name, task, own, task_name)
    path = default_cot_set(task_name)
    if not path.is_file():
        raise UserError(f"{task_name} has no chains of thought of its own and there is no CoT set for it at {path}",
                        f"make one: nfbench data distill --task {task_name} [--teacher HF_ID] (or `nfbench data "
                        f"import ... --out {path}`, or pass --data FILE.jsonl)")
    return TrainingSet(task_name, task, read_sft(path), str(path))


def default_name(backbone: str, task: str, sha256: str) -> str:
    """A checkpoint's folder name: one per (backbone, task, training data), so a training on other data
    never resumes into (or overwrites) another's folder."""
    from nfbench.harness.pipeline import slug

    return f"{slug(backbone)}-{slug(task)}-{sha256[:8]}"

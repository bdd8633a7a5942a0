"""The only way methods get training problems: trainable splits, minus anything evaluated on.

Trainable: MBPP train (601-974) and validation (511-600), synth and graph train and validation.
Refused: every split of HumanEval, HumanEval+ and MBPP+, MBPP prompt/test, synth and graph test; and
inside the trainable splits, any MBPP problem that MBPP+ evaluates (same task number, or the same
normalised description) or whose description repeats one of an MBPP evaluation problem.
"""
from __future__ import annotations

import re

from nfbench.harness.errors import UserError
from nfbench.harness.types import Problem
from nfbench.tasks.base import Task

TRAINABLE = {"mbpp": ("train", "validation"), "synth": ("train", "validation"), "graph": ("train", "validation")}
FIX = "train on mbpp, synth or graph, split train or validation"


def normalise(text: str) -> str:
    """A description without docstring quotes, example asserts, case, punctuation or spacing."""
    lines = [ln for ln in text.strip().strip('"').splitlines() if not ln.strip().startswith("assert")]
    return re.sub(r"[^a-z0-9]+", " ", " ".join(lines).lower()).strip()


def task_number(task_id: str) -> int:
    return int(task_id.rsplit("/", 1)[-1])


def training_problems(task: Task, split: str = "train") -> list[Problem]:
    """The problems of `task`/`split` a method may train on; a UserError for an evaluation split."""
    if task.name not in TRAINABLE:
        raise UserError(f"task '{task.name}' is an evaluation benchmark; training on it is refused", FIX)
    if split not in TRAINABLE[task.name]:
        raise UserError(f"'{task.name}' split '{split}' is evaluated on; training on it is refused", FIX)
    problems = task.problems(split)
    if task.name == "mbpp":
        problems = _without_mbpp_eval_overlap(task, problems)
    else:
        held_out = {p.prompt for p in task.problems("test")}
        problems = [p for p in problems if p.prompt not in held_out]
    return problems


def _without_mbpp_eval_overlap(task: Task, problems: list[Problem]) -> list[Problem]:
    from nfbench.tasks.mbpp_plus import MbppPlusTask

    plus = MbppPlusTask(task.data_dir).problems()
    evaluated = [*plus, *task.problems("test"), *task.problems("prompt")]
    numbers = {task_number(p.task_id) for p in plus}
    texts = {normalise(p.prompt) for p in evaluated}
    return [p for p in problems if task_number(p.task_id) not in numbers and normalise(p.prompt) not in texts]

"""Teacher distillation with rejection sampling: a teacher model writes reasoning + solution for the
problems of a training split (`cot`, zero-shot, k samples each); every candidate runs in the
sandbox and only passing ones are kept; then anything overlapping an evaluation set is dropped.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from nfbench.harness.sft_data import SFTExample, decontaminate

log = logging.getLogger("nfbench")
TRAINING_SPLITS = ("train", "validation")


def evaluation_texts(data_dir: str | None, skip: tuple[str, ...] = ("synth",)) -> list[str]:
    """Prompts and reference solutions of every evaluation split of every registered task."""
    from nfbench.harness.errors import UserError
    from nfbench.harness.registry import TASKS, get_task

    texts: list[str] = []
    for name in TASKS.names():
        if name in skip:
            continue
        try:
            task = get_task(name)(Path(data_dir) if data_dir else None)
            for split in task.splits():
                if split not in TRAINING_SPLITS:
                    texts += [t for p in task.problems(split) for t in (p.prompt, p.canonical_solution)]
        except UserError as e:  # data for this task is not available here: say so, go on
            log.warning("decontamination: skipping %s (%s)", name, e.message)
    return texts


def distill_problems(task: Any, splits: list[str], limit: int | None = None) -> list[Any]:
    """The teacher's problems: trainable splits only, without the MBPP problems that MBPP+ evaluates
    (111 of MBPP train+validation): distilling those would only feed decontamination."""
    from nfbench.tasks.training import training_problems

    return [p for s in splits for p in training_problems(task, s)][:limit]


def distill(*, teacher: str, task_name: str, splits: list[str], k: int, temperature: float, top_p: float,
            max_new_tokens: int, batch_size: int, limit: int | None, seed: int, sandbox: str,
            data_dir: str | None, keep_all: bool = False) -> tuple[list[SFTExample], dict[str, Any]]:
    from nfbench.harness.registry import get_method, get_task
    from nfbench.methods.base import Decoding, RunContext, generate
    from nfbench.sandbox.executor import Sandbox

    task = get_task(task_name)(Path(data_dir) if data_dir else None)
    problems = distill_problems(task, splits, limit)
    cot = get_method("cot")
    # zero-shot CoT on the teacher itself (never on a trained cot checkpoint of it)
    generator = cot(cot.config_class()).generator(RunContext(task, teacher, None, {}, seed=seed))
    decoding = Decoding(temperature, top_p, max_new_tokens, batch_size)
    by_id = {p.task_id: p for p in problems}
    kept: list[SFTExample] = []
    tried = passed = 0
    per_chunk = max(1, batch_size // max(1, k))
    with Sandbox(kind=sandbox) as box:
        for c in range(0, len(problems), per_chunk):
            chunk = problems[c:c + per_chunk]
            gens = generate(generator, chunk, k, seed * 100_003 + c, decoding)
            verdicts = {(v.task_id, v.sample_idx): v for v in
                        box.execute((by_id[g.task_id], g.sample_idx, g.solution) for g in gens)}
            done: set[str] = set()
            for g in gens:
                tried += 1
                if verdicts[(g.task_id, g.sample_idx)].base_status != "pass":
                    continue
                passed += 1
                if g.task_id in done and not keep_all:
                    continue
                done.add(g.task_id)
                kept.append(SFTExample(g.task_id, by_id[g.task_id].prompt, g.reasoning or "", g.solution,
                                       {"source": f"distill:{teacher}", "sample_idx": g.sample_idx}))
            log.info("distill: %d/%d problems, %d kept", c + len(chunk), len(problems), len(kept))
    clean, dropped = decontaminate(kept, evaluation_texts(data_dir))
    stats = {"teacher": teacher, "task": task_name, "splits": splits, "problems": len(problems), "k": k,
             "candidates": tried, "passing": passed, "kept": len(kept), "decontaminated": len(dropped),
             "written": len(clean), "dropped_task_ids": dropped}
    return clean, stats

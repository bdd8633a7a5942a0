"""Teacher distillation with rejection sampling: a teacher model writes reasoning + solution for the
problems of a training split (`cot`, zero-shot, k samples each, in batches); every candidate runs in the
sandbox and only passing ones are kept; then anything overlapping an evaluation set is dropped. Every
candidate is kept on disk as it is judged, so an interrupted distillation resumes where it stopped.
"""
from __future__ import annotations

import json
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
            data_dir: str | None, out: Path, keep_all: bool = False, device: str = "auto",
            dtype: str = "auto") -> tuple[list[SFTExample], dict[str, Any]]:
    """Rejection sampling, resumable: every candidate (k per problem, generated in batches of
    `batch_size`) and its sandbox verdict is appended to `<out>.candidates.jsonl` as its chunk
    finishes, so a rerun of the same command continues with the problems not tried yet; the set is
    then made from every candidate so far."""
    from nfbench.harness import jsonl
    from nfbench.harness.errors import UserError
    from nfbench.harness.progress import progress
    from nfbench.harness.registry import get_method, get_task
    from nfbench.methods.base import Decoding, RunContext, generate
    from nfbench.sandbox.executor import Sandbox

    task = get_task(task_name)(Path(data_dir) if data_dir else None)
    problems = distill_problems(task, splits, limit)
    by_id = {p.task_id: p for p in problems}
    settings = {"teacher": teacher, "task": task_name, "k": k, "temperature": temperature, "top_p": top_p,
                "max_new_tokens": max_new_tokens, "seed": seed}
    store, meta = candidates_file(out), candidates_file(out).with_suffix(".json")
    if store.exists() and meta.is_file() and json.loads(meta.read_text()) != settings:
        raise UserError(f"{store} holds candidates made with other settings ({meta.read_text().strip()})",
                        "re-run with those settings to continue it, or pass another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps(settings))
    done = {r["task_id"] for r in jsonl.read(store, repair=True)}
    todo = [p for p in problems if p.task_id not in done]
    per_chunk = max(1, batch_size // max(1, k))
    if todo:
        log.info("distill: %d problems x %d candidates with %s (%d already tried)", len(todo), k, teacher,
                 len(problems) - len(todo))
        cot = get_method("cot")
        # zero-shot CoT on the teacher itself (never on a trained cot checkpoint of it)
        generator = cot(cot.config_class()).generator(RunContext(task, teacher, None, {}, device, dtype, seed))
        decoding = Decoding(temperature, top_p, max_new_tokens, batch_size)
        order = {p.task_id: i for i, p in enumerate(problems)}  # a chunk's seed follows the problem, not the resume
        with Sandbox(kind=sandbox) as box, progress("distill", total=len(todo)) as advance:
            for c in range(0, len(todo), per_chunk):
                chunk = todo[c:c + per_chunk]
                gens = generate(generator, chunk, k, seed * 100_003 + order[chunk[0].task_id], decoding)
                verdicts = {(v.task_id, v.sample_idx): v for v in
                            box.execute((by_id[g.task_id], g.sample_idx, g.solution) for g in gens)}
                jsonl.append(store, ({"task_id": g.task_id, "sample_idx": g.sample_idx, "reasoning": g.reasoning or "",
                                      "solution": g.solution, "status": verdicts[(g.task_id, g.sample_idx)].base_status,
                                      "reasoning_tokens": g.cost.reasoning_positions if g.cost else None}
                                     for g in gens))
                advance(len(chunk))
                rows = jsonl.read(store)
                log.info("distill: %d/%d problems tried, %d/%d candidates pass", len(done) + c + len(chunk),
                         len(problems), sum(r["status"] == "pass" for r in rows), len(rows))
    rows = [r for r in jsonl.read(store) if r["task_id"] in by_id]
    return select(rows, by_id, teacher, keep_all, data_dir, settings, len(problems))


def candidates_file(out: Path) -> Path:
    return out.with_name(out.name.removesuffix(".gz").removesuffix(".jsonl") + ".candidates.jsonl")


def select(rows: list[dict[str, Any]], by_id: dict[str, Any], teacher: str, keep_all: bool, data_dir: str | None,
           settings: dict[str, Any], n_problems: int) -> tuple[list[SFTExample], dict[str, Any]]:
    """The passing candidates (the first per problem unless keep_all), minus evaluation overlap."""
    kept: list[SFTExample] = []
    order = {t: i for i, t in enumerate(by_id)}
    for r in sorted(rows, key=lambda r: (order[r["task_id"]], r["sample_idx"])):
        if r["status"] != "pass" or (not keep_all and any(e.task_id == r["task_id"] for e in kept)):
            continue
        kept.append(SFTExample(r["task_id"], by_id[r["task_id"]].prompt, r["reasoning"], r["solution"],
                               {"source": f"distill:{teacher}", "sample_idx": r["sample_idx"]}))
    clean, dropped = decontaminate(kept, evaluation_texts(data_dir))
    passing = sum(r["status"] == "pass" for r in rows)
    solved = len({r["task_id"] for r in rows if r["status"] == "pass"})
    tokens = [r["reasoning_tokens"] for r in rows if r.get("reasoning_tokens") is not None]
    stats = {**settings, "problems": n_problems, "problems_tried": len({r["task_id"] for r in rows}),
             "candidates": len(rows), "passing": passing, "yield": round(passing / max(1, len(rows)), 4),
             "problems_solved": solved, "mean_reasoning_tokens": round(sum(tokens) / max(1, len(tokens)), 1),
             "kept": len(kept), "decontaminated": len(dropped), "written": len(clean), "dropped_task_ids": dropped}
    return clean, stats

"""One run, flowing one way: task -> method -> sandbox -> store -> summary.

`run` generates with a method's generator and executes; `evaluate` executes an existing samples file;
both resume from what their run directory already holds. `train` runs the method's stages
(harness/stages.py) on the training data.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Iterable

from nfbench.harness import jsonl, runlock, store as st
from nfbench.harness.config import RunConfig, TrainConfig, to_dict
from nfbench.harness.errors import UserError
from nfbench.harness.manifest import build_manifest, git_info, package_versions
from nfbench.harness.metrics import summarise
from nfbench.harness.progress import progress
from nfbench.harness.registry import get_method, get_task
from nfbench.harness.types import Problem

log = logging.getLogger("nfbench")

# Options that change how fast a run goes, not what it produces: a rerun that differs only in
# these resumes the same run.
NOT_IN_RUN_ID = ("batch_size", "sandbox_workers", "sandbox_engines")
# keys added after runs were recorded: at their default they leave the run id as it was
DEFAULT_NOT_IN_RUN_ID = {"plus_after_base_fail": True}


def config_hash(config: dict[str, Any]) -> str:
    kept = {k: v for k, v in config.items() if k not in NOT_IN_RUN_ID
            and not (k in DEFAULT_NOT_IN_RUN_ID and v == DEFAULT_NOT_IN_RUN_ID[k])}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()[:10]


def slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in Path(text).name)[:40]


def open_task(name: str, data_dir: str | None, options: dict[str, Any]) -> Any:
    return get_task(name)(Path(data_dir) if data_dir else None, **options)


def select_problems(task: Any, split: str | None, task_ids: list[str] | None,
                    limit: int | None) -> list[Problem]:
    problems = task.problems(split)
    if task_ids:
        by_id = {p.task_id: p for p in problems}
        missing = [t for t in task_ids if t not in by_id]
        if missing:
            raise UserError(f"task ids not in {task.name}/{split or task.default_split}: "
                            f"{', '.join(missing[:5])}", "check `nfbench ls tasks` and the split")
        problems = [by_id[t] for t in task_ids]
    if limit is not None:
        problems = problems[:limit]
    if not problems:
        raise UserError(f"no problems selected from task '{task.name}'", "check --limit/--set task_ids")
    return problems


def run_path(out: str | None, run_id: str) -> Path:
    return Path(out) if out else st.results_root() / "runs" / run_id


def all_pairs(problems: list[Problem], n_samples: int) -> set[tuple[str, int]]:
    return {(p.task_id, s) for p in problems for s in range(n_samples)}


def open_store(out: str | None, run_id: str, config: dict[str, Any], force: bool) -> st.RunStore:
    """Create the run directory, or resume it if it holds the same config."""
    path = run_path(out, run_id)
    runlock.hold(path)  # one writer per run directory (a second one exits 2 naming the first)
    store = st.RunStore.create(path, force=force)
    if store.exists(st.MANIFEST):
        old = store.read_json(st.MANIFEST).get("config", {})
        if config_hash(old) != config_hash(config):
            raise UserError(f"{path} holds a run with a different config",
                            "pass --force to move it aside and start over, or choose another --out")
        log.info("resuming run in %s", path)
    return store


def execute_pending(store: st.RunStore, problems: list[Problem], sandbox: Any) -> None:
    """Run every generation that has no verdict yet through the sandbox."""
    by_id = {p.task_id: p for p in problems}
    done = store.done(st.EXECUTIONS)
    jobs = [(by_id[g["task_id"]], g["sample_idx"], g["solution"])
            for g in store.records(st.GENERATIONS) if (g["task_id"], g["sample_idx"]) not in done]
    if not jobs:
        store.order_like(st.EXECUTIONS, st.GENERATIONS)  # (a run killed before its merge)
        return
    log.info("executing %d samples in the %s sandbox", len(jobs), sandbox.kind)
    with progress("execute", total=len(jobs)) as advance:
        for verdict in sandbox.execute(jobs):
            store.append(st.EXECUTIONS, [verdict.to_dict()])
            advance(1)
    store.order_like(st.EXECUTIONS, st.GENERATIONS)


def finish(store: st.RunStore, info: dict[str, Any], ks: Iterable[int]) -> dict[str, Any]:
    summary = {**info, **summarise(store.records(st.GENERATIONS), store.records(st.EXECUTIONS), ks)}
    store.write_json(st.SUMMARY, summary)
    store.write_samples()
    return summary


def open_sandbox(kind: str, workers: int | None, engines: str | None = None, plus_after_base_fail: bool = True) -> Any:
    from nfbench.sandbox.executor import Sandbox

    if kind not in ("docker", "local"):
        raise UserError(f"unknown sandbox '{kind}'", "use --sandbox docker (default) or --sandbox local")
    if engines and kind != "docker":
        raise UserError("--sandbox-engines needs --sandbox docker", "drop --sandbox local or --sandbox-engines")
    return Sandbox(kind=kind, workers=workers, engines=engines, plus_after_base_fail=plus_after_base_fail)


# --- nfbench run -------------------------------------------------------------------------------
def run(cfg: RunConfig, out: str | None = None, force: bool = False, *, generator: Any = None,
        sandbox: Any = None, info: dict[str, Any] | None = None) -> tuple[Path, dict[str, Any]]:
    """`generator`, `sandbox`: already open ones to use (`nfbench sweep`: one model and one sandbox for
    every budget point); `info`: added to the summary (e.g. the budget point)."""
    config = to_dict(cfg)
    task = open_task(cfg.task, cfg.data_dir, cfg.task_options)
    problems = select_problems(task, cfg.split, cfg.task_ids, cfg.limit)
    run_id = f"{slug(cfg.task)}-{slug(cfg.method)}-{slug(cfg.backbone)}-{config_hash(config)}"
    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))

    if rank != 0:  # a shard of a multi-process run: generate into rank 0's store, which executes all
        generator = open_generator(cfg, task)
        store = wait_for_manifest(run_path(out, run_id), config)
        generate_pending(store, generator, problems[rank::world], cfg)
        return store.path, {}

    # Everything that can fail on bad input (sandbox, method, checkpoint) fails before the run
    # directory is touched, so a failed start never moves or leaves anything in results/.
    with nullcontext(sandbox) if sandbox is not None else \
            open_sandbox(cfg.sandbox, cfg.sandbox_workers, cfg.sandbox_engines, cfg.plus_after_base_fail) as sandbox:
        generator = generator or open_generator(cfg, task)
        sandbox.start()  # up while the model loaded; a sandbox that cannot start fails before generating
        store = open_store(out, run_id, config, force)
        done = store.done(st.GENERATIONS)  # cuts a torn line now: other ranks wait for the manifest below
        if not store.exists(st.MANIFEST):
            store.write_json(st.MANIFEST, build_manifest(
                run_id=run_id, config=config, dataset={**task.dataset_info(),
                "split": cfg.split or task.default_split, "n_problems": len(problems)},
                model=generator.manifest_info(), sandbox={"kind": cfg.sandbox, "image_id": sandbox.image_id()},
                seeds={"seed": cfg.seed}))
        else:
            if done < all_pairs(problems, cfg.n_samples):
                check_same_weights(store, generator)
            note_resume(store)
        generate_pending(store, generator, problems[0::world], cfg)
        wait_for_shards(store, problems, cfg.n_samples, world)
        execute_pending(store, problems, sandbox)
    info = {"run_id": run_id, "method": cfg.method, "task": cfg.task, "backbone": cfg.backbone,
            "split": cfg.split or task.default_split, "n_samples_per_problem": cfg.n_samples,
            "temperature": cfg.temperature, **(info or {})}
    return store.path, finish(store, info, cfg.ks)


def open_context(cfg: RunConfig, task: Any) -> tuple[Any, Any]:
    """(the method, the RunContext of the weights `nfbench run` resolves for it: harness/checkpoints.py)."""
    from nfbench.harness.checkpoints import read_info, resolve_run
    from nfbench.methods.base import RunContext

    method = get_method(cfg.method)(cfg.method_config)
    weights, checkpoint = resolve_run(method, cfg)
    info = (read_info(checkpoint) or {}) if checkpoint else {}
    return method, RunContext(task, weights, checkpoint, info, cfg.device, cfg.dtype, cfg.seed)


def open_generator(cfg: RunConfig, task: Any) -> Any:
    method, ctx = open_context(cfg, task)
    return method.generator(ctx)


def decoding(cfg: RunConfig) -> Any:
    from nfbench.methods.base import Decoding

    return Decoding(cfg.temperature, cfg.top_p, cfg.max_new_tokens, cfg.batch_size)


def check_same_weights(store: st.RunStore, generator: Any) -> None:
    """A resumed run must generate its remaining samples with the weights it started with
    (`nfbench train` may have finished a newer checkpoint in between)."""
    old = store.read_json(st.MANIFEST).get("model") or {}
    new = generator.manifest_info()
    for key in ("checkpoint", "weights_sha256"):
        if old.get(key) != new.get(key):
            raise UserError(f"{store.path} was started with {key} {old.get(key)}, but this run would use "
                            f"{new.get(key)}", f"pass --checkpoint {old.get('checkpoint')} to finish it "
                            "with its own weights, or --force to start over" if old.get("checkpoint")
                            else "pass --force to start over with the new weights")


def note_resume(store: st.RunStore) -> None:
    """A resumed run may continue under other code or packages: each resume is added to the manifest."""
    manifest = store.read_json(st.MANIFEST)
    manifest.setdefault("resumes", []).append({"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                               "git": git_info(), "packages": package_versions()})
    store.write_json(st.MANIFEST, manifest)


def wait_for_manifest(path: Path, config: dict[str, Any], timeout_s: float = 3600) -> st.RunStore:
    """Ranks > 0 of a sharded run join the store once rank 0 has opened it: rank 0 (re)writes the
    manifest after moving an old run aside (--force) and cutting a torn line, so only a manifest of
    this config written after this process started will do."""
    manifest, started, deadline = path / st.MANIFEST, time.time() - 5, time.time() + timeout_s
    while True:
        try:
            if manifest.stat().st_mtime >= started and config_hash(
                    json.loads(manifest.read_text()).get("config", {})) == config_hash(config):
                return st.RunStore(path)
        except (OSError, ValueError):
            pass
        if time.time() > deadline:
            raise UserError(f"rank 0 did not open {path} in time", "check rank 0's log and re-run")
        time.sleep(1)


def generate_pending(store: st.RunStore, generator: Any, problems: list[Problem], cfg: RunConfig) -> None:
    """Generate, chunk by chunk, every (task_id, sample_idx) the store does not hold yet.

    Chunks are fixed by problem order and each has its own seed, so a resumed run generates
    the same samples it would have generated without the interruption.
    """
    done = store.done(st.GENERATIONS, repair=False)  # other ranks may be appending; run() repaired
    per_chunk = max(1, cfg.batch_size // max(1, cfg.n_samples))
    chunks = [problems[i:i + per_chunk] for i in range(0, len(problems), per_chunk)]
    todo = [(i, c) for i, c in enumerate(chunks)
            if any((p.task_id, s) not in done for p in c for s in range(cfg.n_samples))]
    if not todo:
        return
    log.info("generating %d samples for %d problems with %s", cfg.n_samples * sum(map(len, chunks)),
             len(problems), cfg.method)
    from nfbench.methods.base import generate

    with progress("generate", total=sum(len(c) for _, c in todo)) as advance:
        for i, chunk in todo:
            gens = generate(generator, chunk, cfg.n_samples, cfg.seed * 100_003 + i, decoding(cfg))
            store.append(st.GENERATIONS, (g.to_dict() for g in gens
                                          if (g.task_id, g.sample_idx) not in done))
            advance(len(chunk))


def wait_for_shards(store: st.RunStore, problems: list[Problem], n: int, world: int,
                    timeout_s: float = 24 * 3600) -> None:
    """Rank 0 of a sharded run waits until every rank's generations are in the store."""
    if world == 1:
        return
    want = all_pairs(problems, n)
    deadline = time.time() + timeout_s
    while not want <= store.done(st.GENERATIONS, repair=False):  # other ranks are still appending
        if time.time() > deadline:
            raise UserError("timed out waiting for the other ranks' generations", "re-run to resume")
        time.sleep(2)


# --- nfbench eval ------------------------------------------------------------------------------
def read_samples(path: Path, problems: dict[str, Problem], raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An evalplus samples file's records -> generation records; sample_idx = position among the
    task's samples."""
    counts: dict[str, int] = {}
    out = []
    for i, rec in enumerate(raw, 1):
        task_id = rec.get("task_id")
        if task_id not in problems:
            raise UserError(f"{path}, sample {i}: unknown task_id {task_id!r}",
                            "samples must belong to the task given with --task")
        if "solution" in rec:
            solution = rec["solution"]
        elif "completion" in rec:
            solution = problems[task_id].prompt + rec["completion"]
        else:
            raise UserError(f"{path}, sample {i}: a sample needs a 'solution' or a 'completion' field",
                            "write evalplus samples: {\"task_id\": ..., \"solution\": ...}")
        if not isinstance(solution, str):
            raise UserError(f"{path}, sample {i}: the solution must be a string", "fix the samples file")
        idx = counts.get(task_id, 0)
        counts[task_id] = idx + 1
        out.append({"task_id": task_id, "sample_idx": idx, "prompt": problems[task_id].prompt,
                    "raw_output": solution, "solution": solution, "reasoning": None, "cost": {},
                    "extra": {"source": str(path)}})
    if not out:
        raise UserError(f"{path} holds no samples", "write one JSON object per line")
    return out


def evaluate(task_name: str, samples: Path, *, out: str | None = None, force: bool = False,
             sandbox: str = "docker", workers: int | None = None, engines: str | None = None,
             data_dir: str | None = None, plus_after_base_fail: bool = True,
             task_options: dict[str, Any] | None = None, ks: Iterable[int] = (1, 10, 100)
             ) -> tuple[Path, dict[str, Any]]:
    get_task(task_name)  # an unknown task or a bad samples file is reported before Docker starts
    if not samples.is_file():
        raise UserError(f"samples file not found: {samples}", "pass an existing JSONL file to --samples")
    raw = jsonl.read_input(samples)
    with open_sandbox(sandbox, workers, engines, plus_after_base_fail) as box:  # its containers start while the problems load
        task = open_task(task_name, data_dir, task_options or {})
        all_problems: dict[str, Problem] = {}
        for split in task.splits():
            all_problems.update({p.task_id: p for p in task.problems(split)})
        records = read_samples(samples, all_problems, raw)
        digest = hashlib.sha256(samples.read_bytes()).hexdigest()
        config = {"command": "eval", "task": task_name, "samples": str(samples), "samples_sha256": digest,
                  "sandbox": sandbox, "task_options": task_options or {}, "plus_after_base_fail": plus_after_base_fail}
        run_id = f"eval-{slug(task_name)}-{slug(samples.stem)}-{config_hash(config)}"
        store = open_store(out, run_id, config, force)
        used = [all_problems[t] for t in dict.fromkeys(r["task_id"] for r in records)]
        if not store.exists(st.MANIFEST):
            store.write_json(st.MANIFEST, build_manifest(
                run_id=run_id, config=config, dataset={**task.dataset_info(), "n_problems": len(used)},
                model={}, sandbox={"kind": sandbox, "image_id": box.image_id()}, seeds={}))
        else:
            note_resume(store)
        done = store.done(st.GENERATIONS)
        store.append(st.GENERATIONS, (r for r in records if (r["task_id"], r["sample_idx"]) not in done))
        execute_pending(store, used, box)
    n = min(sum(1 for r in records if r["task_id"] == p.task_id) for p in used)
    info = {"run_id": run_id, "method": "samples:" + samples.stem, "task": task_name, "backbone": None,
            "split": None, "n_samples_per_problem": n, "temperature": None}
    return store.path, finish(store, info, ks)


# --- nfbench train -----------------------------------------------------------------------------
def train(cfg: TrainConfig, with_cot: bool = False, on_resolved: Any = None) -> Path:
    """Run the method's stages (harness/stages.py) for a task on its SFT records (harness/train_data.py).
    with_cot: a method that starts from a CoT model and finds none first trains one (`cot`, same
    backbone, task, data, seed and trainer settings). on_resolved(cfg): called once the task, data and
    checkpoint name are filled in (the CLI prints the config)."""
    import dataclasses

    from nfbench.harness import stages
    from nfbench.harness.checkpoints import latest_checkpoint
    from nfbench.harness.train_data import default_name, resolve

    method = get_method(cfg.method)(cfg.method_config)
    if not method.stages():
        where = f" on a {method.starts_from} model (train it: nfbench train {method.starts_from})" if method.starts_from else ""
        raise UserError(f"method '{cfg.method}' is training-free", f"run it{where}: nfbench run --method {cfg.method}")
    data = resolve(cfg)
    cfg.task, cfg.data = data.task_name, data.data  # the resolved config is what checkpoint.json records
    cfg.name = cfg.name or default_name(cfg.backbone, data.task_name, data.sha256)
    if on_resolved is not None:
        on_resolved(cfg)
    log.info("training %s on %s for %s: %d examples from %s (%d with reasoning) -> checkpoint name %s",
             cfg.method, cfg.backbone, cfg.task, len(data.examples), cfg.data,
             sum(bool(e.reasoning) for e in data.examples), cfg.name)
    if (with_cot and method.starts_from and not cfg.init_from
            and latest_checkpoint(method.starts_from, cfg.backbone, cfg.task, cfg.data) is None):
        cot_cfg = dataclasses.replace(cfg, method=method.starts_from, name=None, stage=None, out=None,
                                      method_config=get_method(method.starts_from).config_class())
        log.info("--with-cot: training the %s model %s starts from first", method.starts_from, cfg.method)
        train(cot_cfg)
    check_resumable(method.name, cfg, data.sha256)
    return stages.run(method, cfg, data.task, data.examples)


def check_resumable(method: str, cfg: TrainConfig, sha256: str) -> None:
    """Re-running a training resumes its folder; a folder that holds a training of another backbone,
    task or data is refused, before anything is written."""
    from nfbench.harness.checkpoints import checkpoint_dir, read_info, trained_task

    root = checkpoint_dir(method, cfg.name, cfg.out)
    info = read_info(root)
    if not info:
        return
    old = (info.get("backbone"), trained_task(info), (info.get("data") or {}).get("sha256"))
    if old != (cfg.backbone, cfg.task, sha256):
        raise UserError(f"{root} holds a {method} training of {old[0]} for {old[1]} on data {str(old[2])[:8]}, "
                        f"not of {cfg.backbone} for {cfg.task} on {sha256[:8]}", "pass another --name (or leave --name out: one folder "
                        "per backbone, task and data)")

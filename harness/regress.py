"""`nfbench regress`: the CI guard. Train every method on the synthetic suite with the tiny backbone,
run each through the Docker sandbox (the same `pipeline.train` / `pipeline.run` as the CLI), and
compare pass@1 and mean reasoning positions with the committed baseline (tolerances in that file).

Checkpoints are cached (harness/regress_cache.py) by training config and the source files each
training imported, locally and, for the CoT model the latent methods start from, in the repository.
`--smoke` instead runs zero-shot `cot` with the embedded SmolLM2-135M on a few HumanEval+ problems.
"""
from __future__ import annotations

import difflib
import json
import logging
import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nfbench.harness import regress_cache as cache
from nfbench.harness.config import RunConfig, TrainConfig, load_config, read_yaml, to_dict
from nfbench.harness.errors import UserError
from nfbench.harness.store import results_root

log = logging.getLogger("nfbench")
REPO = Path(__file__).resolve().parent.parent
DEFAULT_BASELINE = REPO / "benchmarks" / "regress_baseline.json"


@dataclass(frozen=True)
class Member:
    """One method of the suite. Its training config is configs/<method>-tiny.yaml."""

    method: str
    init_from: str | None = None  # a member whose checkpoint this one's training starts from
    checkpoint_of: str | None = None  # training-free: evaluate on this member's checkpoint
    run: dict[str, Any] = field(default_factory=dict)  # extra RunConfig keys for the evaluation


SUITE = (
    Member("direct"),
    Member("cot"),
    Member("coconut", init_from="cot"),  # Coconut's curriculum starts from a CoT-SFT model
    Member("latent-sft", init_from="cot"),
    Member("nfcot", init_from="cot"),  # the paper starts from a pretrained LM: here the CoT-SFT model
    Member("soft-thinking", checkpoint_of="cot"),  # training-free: soft thoughts on the CoT model
)
BUDGET_S = 15 * 60  # on 2 CPU cores, with nothing cached
EVAL = {"task": "synth", "split": "test", "limit": 100, "n_samples": 1, "temperature": 0.0, "seed": 0,
        "sandbox": "docker"}


def member_config(member: Member) -> Path:
    path = REPO / "configs" / f"{member.method}-tiny.yaml"
    if not path.is_file():
        raise UserError(f"no CI config for method '{member.method}': {path} is missing",
                        "add the method's tiny training config (see configs/)")
    return path


def newest_cached(method: str, roots: list[Path]) -> Path | None:
    done = sorted((d for root in roots for d in root.glob(f"{method}-*/{cache.DONE}")), key=lambda p: p.stat().st_mtime)
    return done[-1].parent if done else None


def train_member(member: Member, checkpoints: dict[str, Path], local: Path, reuse: bool = False,
                 trainer: cache.Trainer | None = None) -> Path:
    """Train (or reuse the cached checkpoint of) one member; returns the checkpoint directory.

    reuse: take the newest cached checkpoint of the method whatever code or config made it
    (checks new inference code on old weights in seconds; not what CI does)."""
    roots = [local, cache.COMMITTED]
    if reuse and (found := newest_cached(member.method, roots)) is not None:
        log.info("regress: --reuse-checkpoints: %s uses %s", member.method, found)
        return found

    config = member_config(member)
    overrides: dict[str, Any] = {"method": member.method}
    if member.init_from:
        overrides["init_from"] = str(checkpoints[member.init_from])
    key = cache.entry_key(to_dict(load_config(TrainConfig, str(config), dict(overrides))))
    if (found := cache.lookup(member.method, key, roots)) is not None:
        log.info("regress: reusing the cached %s checkpoint %s", member.method, found)
        return found
    if member.method in cache.COMMITTED_MEMBERS:
        log.warning("regress: no committed %s checkpoint for this code and config: training it (refresh "
                    "benchmarks/regress_cache/ with `nfbench regress --update` and commit it)", member.method)
    return cache.train(config, overrides, local / f"{member.method}-{key}", trainer)


def run_member(member: Member, checkpoint: Path | None, runs: Path) -> Path:
    from nfbench.harness import pipeline

    # the model's training config says which backbone and task options; its own, the method options
    trained = read_yaml(member_config(Member(member.checkpoint_of or member.method)))
    own = {} if member.checkpoint_of else trained
    overrides = {**EVAL, "method": member.method, "backbone": trained.get("backbone", "tiny-llama"),
                 "task_options": trained.get("task_options", {}),
                 "method_config": own.get("method_config", {}), **member.run,
                 "checkpoint": str(checkpoint) if checkpoint else None}
    cfg = load_config(RunConfig, None, overrides)
    out = runs / member.method
    shutil.rmtree(out, ignore_errors=True)  # always a fresh evaluation of the current code
    path, _ = pipeline.run(cfg, out=str(out))
    return path


def measure(suite: tuple[Member, ...], work: Path, reuse: bool = False
            ) -> tuple[list[Path], dict[str, str], dict[str, float], dict[str, Path]]:
    """Train and run every member; a member that fails is recorded, and the others go on."""
    checkpoints: dict[str, Path] = {}
    runs, errors, seconds = [], {}, {}
    for member in suite:
        start = time.time()
        try:
            if member.checkpoint_of:
                if member.checkpoint_of not in checkpoints:
                    raise RuntimeError(f"needs the {member.checkpoint_of} checkpoint, which failed")
                checkpoint = checkpoints[member.checkpoint_of]
            else:
                if member.init_from and member.init_from not in checkpoints:
                    raise RuntimeError(f"needs the {member.init_from} checkpoint, which failed")
                checkpoint = checkpoints[member.method] = train_member(member, checkpoints,
                                                                       work / "checkpoints", reuse)
            runs.append(run_member(member, checkpoint, work / "runs"))
        except Exception as e:  # noqa: BLE001 - a broken method is a finding, not a crash
            errors[member.method] = f"{type(e).__name__}: {e}"
            log.error("regress: %s failed: %s\n%s", member.method, errors[member.method],
                      traceback.format_exc(limit=6))
        seconds[member.method] = time.time() - start
        log.info("regress: %s took %.0f s", member.method, seconds[member.method])
    return runs, errors, seconds, checkpoints


def run_regression(baseline: Path | None = None, update: bool = False, smoke: bool = False,
                   methods: list[str] | None = None, work: Path | None = None, report: bool = True,
                   reuse_checkpoints: bool = False) -> int:
    """0 when every method is within the baseline's tolerances, 1 otherwise. `update` rewrites the
    baseline from this run (tolerances kept) instead of comparing."""
    from nfbench.harness.report import build_report, compare as comparison, load_runs, tables

    if smoke:
        if methods or baseline or update or reuse_checkpoints:
            raise UserError("--smoke takes no --method, --baseline, --update or --reuse-checkpoints",
                            "run `nfbench regress --smoke` alone")
        return run_smoke(work)
    baseline = Path(baseline or DEFAULT_BASELINE)
    names = [m.method for m in SUITE]
    for name in methods or []:
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
            raise UserError(f"unknown regress method '{name}'" + (f"; did you mean '{close[0]}'?" if close else ""),
                            f"choose from {', '.join(names)}")
    suite = tuple(m for m in SUITE if not methods or m.method in methods)
    old_baseline = comparison.load_baseline(baseline) if baseline.exists() or not update else {}  # fail now, not after 15 min
    work = Path(work or results_root() / "regress")
    start = time.time()
    runs, errors, seconds, checkpoints = measure(suite, work, reuse_checkpoints)
    rows = tables.rows(load_runs([str(p) for p in runs])) if runs else []
    if runs and report:
        build_report([str(p) for p in runs], work / "report", echo=True)
    total = time.time() - start
    print("\nregress timings: " + ", ".join(f"{m} {s:.0f}s" for m, s in seconds.items()) + f"; total {total:.0f}s")
    if total > BUDGET_S:
        print(f"WARNING: the regression took {total:.0f} s, over its {BUDGET_S} s budget: shrink the tiny configs")
    for method, error in errors.items():
        print(f"FAILED {method}: {error}")
    if update:
        if errors:
            print("not updating the baseline: some methods failed")
            return 1
        new = comparison.baseline_from_rows(rows, old_baseline.get("tolerances"), note=baseline_note(total, methods))
        if methods:  # `--update -m X` rewrites X's entries and keeps the others
            new["entries"] = {**old_baseline.get("entries", {}), **new["entries"]}
        comparison.write_baseline(new, baseline)
        print(f"baseline written: {baseline}")
        for method in cache.COMMITTED_MEMBERS:
            if method in checkpoints and (stored := cache.commit(method, checkpoints[method])):
                print(f"committed cache refreshed: {stored} (git add {cache.COMMITTED})")
        return 0
    findings = comparison.compare(rows, old_baseline, rule="tolerance")
    findings = [f for f in findings if f.key.split("/")[0] in {m.method for m in suite}]
    for f in findings:
        print(("ok    " if f.status not in comparison.FAILING else "FAIL  ") + f.describe())
    failed = [f for f in findings if f.status in comparison.FAILING]
    verdict = "FAILED" if failed or errors else "passed"
    print(f"regress {verdict}: {len(findings) - len(failed)}/{len(findings)} checks within tolerance, "
          f"{len(errors)} method(s) crashed; report: {work / 'report' / 'report.html'}")
    return 1 if failed or errors else 0


def baseline_note(seconds: float, methods: list[str] | None = None) -> str:
    from nfbench.harness.manifest import git_info, hardware

    which = f" -m {' -m '.join(methods)}" if methods else ""
    hw = hardware()
    return (f"nfbench regress --update{which} at git {git_info().get('commit')} "
            f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {seconds:.0f} s, "
            f"{hw.get('cpu_model', hw['cpu'])}, torch CPU kernels {hw.get('torch_cpu_capability')}). "
            f"Evaluation: {json.dumps(EVAL)}. pass@1 may drop by at most tolerances.pass1_abs; "
            "mean reasoning positions may move by at most max(positions_abs, positions_rel x baseline).")


# --- SmolLM2 smoke run ---------------------------------------------------------------------------
SMOKE = {"method": "cot", "task": "humaneval+", "backbone": "smollm2-135m", "limit": 3, "n_samples": 1,
         "temperature": 0.0, "max_new_tokens": 160, "batch_size": 3, "sandbox": "docker"}


def run_smoke(work: Path | None = None) -> int:
    """Zero-shot CoT with the embedded SmolLM2-135M on a few HumanEval+ problems: the real backbone,
    the real data and the Docker sandbox work together. Pass rates are near zero at this size, so
    it checks that every problem was generated, reasoned about, executed and scored."""
    from nfbench.harness import pipeline
    from nfbench.harness.store import EXECUTIONS, GENERATIONS, RunStore, read_jsonl

    out = Path(work or results_root() / "regress") / "smoke"
    shutil.rmtree(out, ignore_errors=True)
    cfg = load_config(RunConfig, None, dict(SMOKE))
    start = time.time()
    path, summary = pipeline.run(cfg, out=str(out))
    store = RunStore(path)
    gens, verdicts = read_jsonl(store.file(GENERATIONS)), read_jsonl(store.file(EXECUTIONS))
    problems = {g["task_id"] for g in gens}
    checks = {
        f"{SMOKE['limit']} problems generated": len(problems) == SMOKE["limit"] == len(gens),
        "every sample executed": len(verdicts) == len(gens),
        "base and plus verdicts": all(v["plus_status"] is not None for v in verdicts),
        "no sandbox crash": not any(v["base_status"] == "crashed" for v in verdicts),
        "reasoning tokens counted": all(g["cost"]["reasoning_positions"] > 0 for g in gens),
        "forward passes counted": all(g["cost"]["forward_passes"] > 0 for g in gens),
        "pass@1 reported": "1" in (summary.get("pass_at_k") or {}).get("base", {}),
    }
    for name, ok in checks.items():
        print(("ok    " if ok else "FAIL  ") + name)
    p1 = summary.get("pass_at_k", {}).get("base", {}).get("1", {}).get("value")
    print(f"smoke {'passed' if all(checks.values()) else 'FAILED'} in {time.time() - start:.0f} s: "
          f"pass@1 base {p1}, statuses {summary.get('status_counts')}; run: {path}")
    return 0 if all(checks.values()) else 1

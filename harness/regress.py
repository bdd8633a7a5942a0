"""`nfbench regress`: the CI guard. Train every member of a suite (ci/suite.yaml) with the tiny backbone,
run each through the Docker sandbox (the same `nfbench train` / `pipeline.run` as the CLI), and compare
pass@1 and mean reasoning positions with the suite's baseline (tolerances in that file).

The suite is data: its members (method, training config, the member it starts from or runs on, its
training sources), the evaluation, the baseline and the committed cache, all relative to the suite file,
so the installed package needs no checkout: `nfbench regress --suite PATH`. Checkpoints are cached by
harness/regress_cache.py. `--smoke` instead runs zero-shot `cot` with the embedded SmolLM2-135M on a few
HumanEval+ problems.
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
DEFAULT_SUITE = Path("ci/suite.yaml")


@dataclass(frozen=True)
class Member:
    method: str
    name: str = ""  # its name in the suite (default: the method): two members may train one method
    config: Path | None = None  # its training config (None: training-free: runs_on, else the backbone in `run`)
    starts_from: str | None = None  # a member whose checkpoint its training starts from
    runs_on: str | None = None  # training-free: evaluated on this member's checkpoint
    sources: tuple[str, ...] = ()  # package-relative training sources (with the suite's common ones)
    commit: bool = False  # `--update` stores its checkpoint in the committed cache
    run: dict[str, Any] = field(default_factory=dict)  # extra RunConfig keys for its evaluation

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.method)


@dataclass(frozen=True)
class Suite:
    path: Path
    members: tuple[Member, ...]
    evaluation: dict[str, Any]
    baseline: Path
    committed: Path
    budget_s: float


def load_suite(path: Path) -> Suite:
    """The suite file, checked before anything trains (a missing config or source is one line)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"regress suite not found: {path}", "run from a checkout (ci/suite.yaml) or pass --suite FILE")
    raw, root = read_yaml(path), path.parent
    common = list(raw.get("common_sources") or [])
    if not common and raw.get("members_from"):  # a suite built on another shares its common sources
        common = list(read_yaml(root / raw["members_from"]).get("common_sources") or [])
    # `members_from: OTHER.yaml`: a member given by name is that suite's, as it trains there (its config,
    # sources and so its cache key: the committed checkpoints serve both suites)
    other = {m.name: m for m in load_suite(root / raw["members_from"]).members} if raw.get("members_from") else {}
    members = []
    for m in raw.get("members") or []:
        if isinstance(m, str):
            if m not in other:
                raise UserError(f"regress suite {path}: '{m}' is no member of {raw.get('members_from') or 'members_from'}",
                                f"choose from {', '.join(other) or '(set members_from: SUITE.yaml)'}")
            members.append(other[m])
            continue
        config = root / m["config"] if m.get("config") else None
        if config is not None and not config.is_file():
            raise UserError(f"regress suite {path}: {m['method']}'s config {config} is missing", "fix the suite file")
        sources = tuple(common + list(m.get("sources") or [])) if config else ()
        cache.source_files(list(sources))  # every listed source exists
        members.append(Member(m["method"], m.get("name", ""), config, m.get("starts_from"), m.get("runs_on"),
                              sources, bool(m.get("commit")), dict(m.get("run") or {})))
    names = [m.name for m in members]
    if len(set(names)) < len(names):
        raise UserError(f"regress suite {path}: two members are named alike", "give one of them a `name`")
    for i, m in enumerate(members):
        for other in (m.starts_from, m.runs_on):
            if other is not None and other not in names[:i]:
                raise UserError(f"regress suite {path}: {m.name} needs member '{other}' listed before it", "fix the suite file")
    return Suite(path, tuple(members), dict(raw["evaluation"]), root / raw["baseline"], root / raw["cache"],
                 float(raw.get("budget_s", 900)))


def member_key(member: Member, checkpoints: dict[str, Path]) -> tuple[dict[str, Any], str]:
    overrides: dict[str, Any] = {"method": member.method}
    if member.starts_from:
        overrides["init_from"] = str(checkpoints[member.starts_from])
    cfg = to_dict(load_config(TrainConfig, str(member.config), dict(overrides)))
    return overrides, cache.entry_key(cfg, list(member.sources))


def train_member(suite: Suite, member: Member, checkpoints: dict[str, Path], local: Path, reuse: bool = False,
                 trainer: cache.Trainer | None = None) -> Path:
    """Train (or reuse the cached checkpoint of) one member; returns the checkpoint directory.

    reuse: take the newest cached checkpoint of the method whatever code or config made it
    (checks new inference code on old weights in seconds; not what CI does)."""
    roots = [local, suite.committed]
    if reuse and (found := cache.newest(member.name, roots)) is not None:
        log.info("regress: --reuse-checkpoints: %s uses %s", member.name, found)
        return found
    overrides, key = member_key(member, checkpoints)
    if (found := cache.lookup(member.name, key, roots)) is not None:
        log.info("regress: reusing the cached %s checkpoint %s", member.name, found)
        return found
    if member.commit:
        log.warning("regress: no committed %s checkpoint for this code and config: training it (refresh %s "
                    "with `nfbench regress --update` and commit it)", member.name, suite.committed)
    return cache.train(member.config, overrides, local / f"{member.name}-{key}", trainer)


def evaluation(suite: Suite, member: Member) -> dict[str, Any]:
    """The RunConfig keys of a member's evaluation: the suite's settings on the task its model was trained
    on (its training config's `data`, or the suite's task for a JSONL set), with that config's backbone
    and task options; its own config's method options."""
    model = next(m for m in suite.members if m.name == (member.runs_on or member.name))
    trained = read_yaml(model.config) if model.config else {}  # {}: zero-shot on the backbone its `run` names
    return {**suite.evaluation, **model_run_keys(trained, not member.runs_on, suite.evaluation.get("task")),
            "method": member.method, **member.run}


def model_run_keys(trained: dict[str, Any], own: bool, default_task: str | None) -> dict[str, Any]:
    """What a run of a model takes from its training config: the task it was trained on (its `data`
    when that names a task), backbone and task options, and (`own`: the same method) its method options.
    The regression and `nfbench study` evaluate their models with this."""
    from nfbench.harness.registry import TASKS

    task = trained["data"] if trained.get("data") in TASKS.names() else default_task
    return {"task": task, "backbone": trained.get("backbone", "tiny-llama"),
            "task_options": trained.get("task_options", {}),
            "method_config": trained.get("method_config", {}) if own else {}}


def baseline_key(suite: Suite, member: Member) -> str:
    e = evaluation(suite, member)
    return f"{e['method']}/{e['task']}/{e['backbone']}"


def run_member(suite: Suite, member: Member, checkpoint: Path | None, runs: Path) -> Path:
    from nfbench.harness import pipeline

    overrides = {**evaluation(suite, member), "checkpoint": str(checkpoint) if checkpoint else None}
    cfg = load_config(RunConfig, None, overrides)
    out = runs / member.name
    shutil.rmtree(out, ignore_errors=True)  # always a fresh evaluation of the current code
    path, _ = pipeline.run(cfg, out=str(out))
    return path


def measure(suite: Suite, members: tuple[Member, ...], work: Path, reuse: bool = False
            ) -> tuple[list[Path], dict[str, str], dict[str, float], dict[str, Path]]:
    """Train and run every member; a member that fails is recorded, and the others go on."""
    checkpoints: dict[str, Path] = {}
    runs, errors, seconds = [], {}, {}
    for member in members:
        start = time.time()
        try:
            needed = member.runs_on or member.starts_from
            if needed and needed not in checkpoints:
                raise RuntimeError(f"needs the {needed} checkpoint, which failed")
            if member.runs_on:
                checkpoint = checkpoints[member.runs_on]
            elif member.config is None:  # training-free on the pretrained backbone (e.g. zero-shot CoT)
                checkpoint = None
            else:
                checkpoint = checkpoints[member.name] = train_member(suite, member, checkpoints,
                                                                     work / "checkpoints", reuse)
            runs.append(run_member(suite, member, checkpoint, work / "runs"))
        except Exception as e:  # noqa: BLE001 - a broken method is a finding, not a crash
            errors[member.name] = f"{type(e).__name__}: {e}"
            log.error("regress: %s failed: %s\n%s", member.name, errors[member.name],
                      traceback.format_exc(limit=6))
        seconds[member.name] = time.time() - start
        log.info("regress: %s took %.0f s", member.name, seconds[member.name])
    return runs, errors, seconds, checkpoints


def select(suite: Suite, methods: list[str] | None) -> tuple[Member, ...]:
    """The members named with -m, with the members they start from or run on."""
    names = [m.name for m in suite.members]
    for name in methods or []:
        if name not in names:
            close = difflib.get_close_matches(name, names, n=1, cutoff=0.5)
            raise UserError(f"unknown regress method '{name}'" + (f"; did you mean '{close[0]}'?" if close else ""),
                            f"choose from {', '.join(names)}")
    wanted = set(methods or names)
    for m in reversed(suite.members):
        if m.name in wanted:
            wanted |= {x for x in (m.starts_from, m.runs_on) if x}
    return tuple(m for m in suite.members if m.name in wanted)


def run_regression(suite_path: Path | None = None, baseline: Path | None = None, update: bool = False,
                   smoke: bool = False, methods: list[str] | None = None, work: Path | None = None,
                   report: bool = True, reuse_checkpoints: bool = False) -> int:
    """0 when every method is within the baseline's tolerances, 1 otherwise. `update` rewrites the
    baseline from this run (tolerances kept) instead of comparing."""
    from nfbench.harness.report import build_report, compare as comparison, load_runs, tables

    if smoke:
        if methods or baseline or update or reuse_checkpoints:
            raise UserError("--smoke takes no --method, --baseline, --update or --reuse-checkpoints",
                            "run `nfbench regress --smoke` alone")
        return run_smoke(work)
    suite = load_suite(suite_path or DEFAULT_SUITE)
    baseline = Path(baseline or suite.baseline)
    members = select(suite, methods)
    old_baseline = comparison.load_baseline(baseline) if baseline.exists() or not update else {}  # fail now, not after 15 min
    work = Path(work or results_root() / "regress")
    start = time.time()
    runs, errors, seconds, checkpoints = measure(suite, members, work, reuse_checkpoints)
    rows = tables.rows(load_runs([str(p) for p in runs])) if runs else []
    if runs and report:
        build_report([str(p) for p in runs], work / "report", echo=True)
    total = time.time() - start
    print("\nregress timings: " + ", ".join(f"{m} {s:.0f}s" for m, s in seconds.items()) + f"; total {total:.0f}s")
    if total > suite.budget_s:
        print(f"WARNING: the regression took {total:.0f} s, over its {suite.budget_s:.0f} s budget: shrink the CI configs")
    for method, error in errors.items():
        print(f"FAILED {method}: {error}")
    if update:
        if errors:
            print("not updating the baseline: some methods failed")
            return 1
        new = comparison.baseline_from_rows(rows, old_baseline.get("tolerances"),
                                            note=baseline_note(suite, total, methods))
        if methods:  # `--update -m X` rewrites X's entries and keeps the others
            new["entries"] = {**old_baseline.get("entries", {}), **new["entries"]}
        comparison.write_baseline(new, baseline)
        print(f"baseline written: {baseline}")
        for m in members:
            if m.commit and m.name in checkpoints and (stored := cache.commit(m.name, checkpoints[m.name],
                                                                                suite.committed)):
                print(f"committed cache refreshed: {stored} (git add {suite.committed})")
        return 0
    findings = comparison.compare(rows, old_baseline, rule="tolerance")
    findings = [f for f in findings if f.key in {baseline_key(suite, m) for m in members}]
    for f in findings:
        print(("ok    " if f.status not in comparison.FAILING else "FAIL  ") + f.describe())
    failed = [f for f in findings if f.status in comparison.FAILING]
    verdict = "FAILED" if failed or errors else "passed"
    print(f"regress {verdict}: {len(findings) - len(failed)}/{len(findings)} checks within tolerance, "
          f"{len(errors)} method(s) crashed; report: {work / 'report' / 'report.html'}")
    return 1 if failed or errors else 0


def baseline_note(suite: Suite, seconds: float, methods: list[str] | None = None) -> str:
    from nfbench.harness.manifest import git_info, hardware

    which = f" -m {' -m '.join(methods)}" if methods else ""
    hw = hardware()
    return (f"nfbench regress --update{which} at git {git_info().get('commit')} "
            f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {seconds:.0f} s, "
            f"{hw.get('cpu_model', hw['cpu'])}, torch CPU kernels {hw.get('torch_cpu_capability')}). "
            f"Evaluation: {json.dumps(suite.evaluation)}. pass@1 may drop by at most tolerances.pass1_abs; "
            "mean reasoning positions may move by at most max(positions_abs, positions_rel x baseline).")


# --- SmolLM2 smoke run ---------------------------------------------------------------------------
SMOKE = {"method": "cot", "task": "humaneval+", "backbone": "smollm2-135m", "limit": 3, "n_samples": 1,
         "temperature": 0.0, "max_new_tokens": 160, "batch_size": 3, "sandbox": "docker"}


def run_smoke(work: Path | None = None) -> int:
    """Zero-shot CoT with the embedded SmolLM2-135M on a few HumanEval+ problems: the real backbone,
    the real data and the Docker sandbox work together. Pass rates are near zero at this size, so
    it checks that every problem was generated, reasoned about, executed and scored."""
    from nfbench.harness import pipeline
    from nfbench.harness.jsonl import read
    from nfbench.harness.store import EXECUTIONS, GENERATIONS, RunStore

    out = Path(work or results_root() / "regress") / "smoke"
    shutil.rmtree(out, ignore_errors=True)
    cfg = load_config(RunConfig, None, dict(SMOKE))
    start = time.time()
    path, summary = pipeline.run(cfg, out=str(out))
    store = RunStore(path)
    gens, verdicts = read(store.file(GENERATIONS)), read(store.file(EXECUTIONS))
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

"""`nfbench study`: the numbers nfbench publishes. Every method x suite x seed, each trained at its
paper's schedule (scaled to the suite; configs/study/<suite>/<method>.yaml), evaluated greedy and
sampled through the Docker sandbox, then one report with mean and spread over seeds and the papers'
claims checked against it.

The study file (configs/study/study.yaml) is data, like the CI suite: its suites, seeds, members (a
method, the member it starts from or runs on, the suites it is on when not all) and decodings. A seed is the whole chain: the CoT
model that Coconut, Latent-SFT, NF-CoT and pause start from is trained with the same seed.

Everything is resumable, so the study can run in the background across sessions: a finished
checkpoint (checkpoint.json complete) is not retrained, an unfinished one resumes from its last
saved stage and trainer state (`nfbench train`'s own resume), and a run resumes from its run store.
Each step's wall time goes to progress.jsonl, so the README can say what the study costs.

    results/study/<name>/checkpoints/<suite>/seed<S>/<member>/   what `nfbench train` wrote
    results/study/<name>/runs/<suite>/seed<S>/<member>-<decoding>/  what `nfbench run` wrote
    results/study/<name>/{study.md, study.csv, claims.md, progress.jsonl, report/}
"""
from __future__ import annotations

import fcntl
import json
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nfbench.harness.config import RunConfig, load_config, read_yaml
from nfbench.harness.errors import UserError
from nfbench.harness.store import results_root

log = logging.getLogger("nfbench")
DEFAULT_STUDY = Path("configs/study/study.yaml")


@dataclass(frozen=True)
class StudyMember:
    name: str  # its folder and its row (the method's name unless two members share a method)
    method: str
    starts_from: str | None = None  # a member whose checkpoint its training starts from
    runs_on: str | None = None  # no training of its own: run on this member's checkpoint ...
    stage: str | None = None  # ... or on one of that checkpoint's stage folders (e.g. NF-CoT before RL)
    decodings: tuple[str, ...] = ()  # () = every decoding of the study
    suites: tuple[str, ...] = ()  # () = every suite of the study; else only these (a config on each)

    @property
    def trained(self) -> bool:
        return self.runs_on is None

    def on(self, suite: str) -> bool:
        return not self.suites or suite in self.suites


@dataclass(frozen=True)
class Study:
    path: Path
    name: str
    suites: tuple[str, ...]
    seeds: tuple[int, ...]
    members: tuple[StudyMember, ...]
    evaluation: dict[str, Any]  # RunConfig keys common to every run (split, limit, sandbox)
    decodings: dict[str, dict[str, Any]]  # name -> RunConfig keys (n_samples, temperature)
    claims: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def config(self, suite: str, member: StudyMember) -> Path:
        return self.path.parent / suite / f"{member.method}.yaml"


def load_study(path: Path) -> Study:
    """The study file, checked whole before anything trains (a missing config is one line, not a
    failure after hours of earlier trainings)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"study file not found: {path}", "run from a checkout (configs/study/study.yaml) or pass --study FILE")
    raw = read_yaml(path)
    members: list[StudyMember] = []
    for m in raw.get("members") or []:
        member = StudyMember(m.get("name", m["method"]), m["method"], m.get("starts_from"), m.get("runs_on"),
                             m.get("stage"), tuple(m.get("decodings") or ()), tuple(m.get("suites") or ()))
        for other in (member.starts_from, member.runs_on):
            if other is not None and other not in [x.name for x in members]:
                raise UserError(f"study {path}: {member.name} needs member '{other}' listed before it", "fix the study file")
        if unknown := set(member.suites) - set(raw["suites"]):
            raise UserError(f"study {path}: {member.name} names suites {sorted(unknown)} the study does not have",
                            f"the study's suites: {', '.join(raw['suites'])}")
        members.append(member)
    decodings = {k: dict(v) for k, v in (raw.get("decodings") or {"greedy": {}}).items()}
    study = Study(path, raw.get("name", path.stem), tuple(raw["suites"]), tuple(int(s) for s in raw["seeds"]),
                  tuple(members), dict(raw.get("evaluation") or {}), decodings, tuple(raw.get("claims") or ()))
    by_name = {m.name: m for m in members}
    for suite in study.suites:
        for m in (m for m in study.members if m.on(suite)):
            if missing := [x for x in (m.starts_from, m.runs_on) if x and not by_name[x].on(suite)]:
                raise UserError(f"study {path}: {m.name} is on {suite} but {missing[0]}, which it needs, is not",
                                f"add {suite} to {missing[0]}'s suites or remove it from {m.name}'s")
            if m.trained and not study.config(suite, m).is_file():
                raise UserError(f"study {path}: no config for {m.method} on {suite} ({study.config(suite, m)})",
                                "write it or remove the suite or member from the study file")
            if unknown := set(m.decodings) - set(decodings):
                raise UserError(f"study {path}: {m.name} names unknown decodings {sorted(unknown)}",
                                f"the study's decodings: {', '.join(decodings)}")
    return study


def pick(study: Study, suites: list[str] | None, methods: list[str] | None, seeds: list[int] | None
         ) -> tuple[list[str], list[StudyMember], list[int]]:
    """The selection (-s/-m/--seed), with every member a selected one starts from or runs on."""
    for given, known, what in ((suites, study.suites, "suite"), (methods, [m.name for m in study.members], "member"),
                               (seeds, study.seeds, "seed")):
        if bad := [x for x in given or [] if x not in known]:
            raise UserError(f"unknown study {what} {bad[0]!r}", f"the study's {what}s: {', '.join(map(str, known))}")
    wanted = set(methods or [m.name for m in study.members])
    for m in reversed(study.members):
        if m.name in wanted:
            wanted |= {x for x in (m.starts_from, m.runs_on) if x}
    return (list(suites or study.suites), [m for m in study.members if m.name in wanted], list(seeds or study.seeds))


class Progress:
    """progress.jsonl: one line per finished step, with its wall time (what the study costs)."""

    def __init__(self, path: Path):
        self.path = path

    def record(self, **row: Any) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps({**row, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}) + "\n")


@contextmanager
def turn(lock: Path | None):
    """Hold `lock` (flock) for one step, so a study in the background shares the machine step by step
    with other heavy jobs (`--lock /tmp/nfbench-heavy.lock`) instead of holding it for hours."""
    if lock is None:
        yield
        return
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def train(study: Study, suite: str, seed: int, member: StudyMember, checkpoints: dict[str, Path], out: Path,
          progress: Progress) -> Path:
    """The member's checkpoint, trained (or resumed) unless it is complete."""
    from nfbench.harness.checkpoints import read_info
    from nfbench.harness.regress_cache import train_in_child

    if (read_info(out) or {}).get("complete"):
        return out
    overrides: dict[str, Any] = {"method": member.method, "seed": seed, "name": f"study-{suite}-s{seed}"}
    if member.starts_from:
        overrides["init_from"] = str(checkpoints[member.starts_from])
    log.info("study: training %s on %s, seed %d -> %s", member.name, suite, seed, out)
    start = time.time()
    train_in_child(study.config(suite, member), overrides, out)
    progress.record(step="train", suite=suite, seed=seed, member=member.name, seconds=round(time.time() - start, 1))
    return out


def evaluate(study: Study, suite: str, seed: int, member: StudyMember, checkpoint: Path, decoding: str, out: Path,
             progress: Progress) -> Path:
    """One run (resumed from its store if it exists) with the model's own task and method options."""
    from nfbench.harness import pipeline

    from nfbench.harness.regress import model_run_keys

    owner = member if member.trained else next(m for m in study.members if m.name == member.runs_on)
    trained = read_yaml(study.config(suite, owner))
    overrides = {**study.evaluation, **study.decodings[decoding],
                 **model_run_keys(trained, owner.method == member.method, suite), "method": member.method,
                 "seed": seed, "checkpoint": str(checkpoint / member.stage if member.stage else checkpoint)}
    start = time.time()
    path, _ = pipeline.run(load_config(RunConfig, None, overrides), out=str(out))
    progress.record(step="run", suite=suite, seed=seed, member=member.name, decoding=decoding,
                    seconds=round(time.time() - start, 1))
    return path


def run_study(path: Path | None = None, suites: list[str] | None = None, methods: list[str] | None = None,
              seeds: list[int] | None = None, out: Path | None = None, report_only: bool = False,
              lock: Path | None = None) -> int:
    """Train and run the selection, then write the study's tables, claims and report. A member that
    fails is recorded and the others go on (its dependants are skipped); 1 if any failed."""
    from nfbench.harness.study_report import write_study_report

    study = load_study(path or DEFAULT_STUDY)
    suites, members, seeds = pick(study, suites, methods, seeds)
    root = Path(out or results_root() / "study" / study.name)
    progress = Progress(root / "progress.jsonl")
    errors: dict[str, str] = {}
    for suite in suites if not report_only else []:
        for seed in seeds:
            checkpoints: dict[str, Path] = {}
            where = root / "checkpoints" / suite / f"seed{seed}"
            for m in (m for m in members if m.on(suite)):
                label = f"{suite}/seed{seed}/{m.name}"
                try:
                    need = m.starts_from or m.runs_on
                    if need and need not in checkpoints:
                        raise RuntimeError(f"needs {need}, which failed")
                    if m.trained:
                        with turn(lock):
                            checkpoints[m.name] = train(study, suite, seed, m, checkpoints, where / m.name, progress)
                    ckpt = checkpoints[m.runs_on or m.name]
                    for d in m.decodings or tuple(study.decodings):
                        with turn(lock):
                            evaluate(study, suite, seed, m, ckpt, d,
                                     root / "runs" / suite / f"seed{seed}" / f"{m.name}-{d}", progress)
                except Exception as e:  # noqa: BLE001 - one failed member is a finding; the rest go on
                    errors[label] = f"{type(e).__name__}: {e}"
                    log.error("study: %s failed: %s", label, errors[label])
    write_study_report(study, root)
    for label, error in errors.items():
        print(f"FAILED {label}: {error}")
    return 1 if errors else 0

"""Read finished run stores (manifest, summary, generations, verdicts). No torch, only JSON."""
from __future__ import annotations

import glob
from collections import Counter
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nfbench.harness.errors import UserError
from nfbench.harness.jsonl import read as read_jsonl
from nfbench.harness.store import EXECUTIONS, GENERATIONS, MANIFEST, SUMMARY, RunStore

log = logging.getLogger("nfbench")


@dataclass
class Run:
    """One run directory, loaded."""

    path: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]
    generations: list[dict[str, Any]]
    verdicts: list[dict[str, Any]]
    variant: str | None = None  # set when one report holds several models of the same method

    @property
    def run_id(self) -> str:
        return self.summary.get("run_id") or self.path.name

    def _field(self, name: str) -> str:
        return str(self.summary.get(name) or self.manifest.get("config", {}).get(name) or "?")

    @property
    def method(self) -> str:
        """The row label: the method, plus which checkpoint when the report compares several."""
        base = self._field("method")
        return f"{base} [{self.variant}]" if self.variant else base

    @property
    def checkpoint(self) -> str:
        return str(self.manifest.get("model", {}).get("checkpoint") or "")

    @property
    def task(self) -> str:
        return self._field("task")

    @property
    def backbone(self) -> str:
        return self._field("backbone")

    @property
    def budget(self) -> dict[str, Any]:
        """The thinking-budget point of a run `nfbench sweep` made ({} for other runs)."""
        return self.summary.get("budget") or {}

    @property
    def budget_label(self) -> str:
        b = self.budget
        return f"{b['option']}={b['value']}" if b else ""

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """What one table row stands for: one model (checkpoint) of a method on a task and backbone, at
        one budget point where a sweep made it."""
        return self._field("method"), self.task, self.backbone, self.checkpoint, self.budget_label

    @property
    def created(self) -> str:
        return str(self.manifest.get("created", ""))

    def costs(self, name: str) -> list[float]:
        """One cost field of every sample, in sample order."""
        return [float(g.get("cost", {}).get(name, 0.0)) for g in self.generations]


def by_task(runs: list[Run]) -> dict[tuple[str, str], list[Run]]:
    """The runs of each task x backbone (what tables compare), in the given order."""
    groups: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        groups.setdefault((r.task, r.backbone), []).append(r)
    return groups


def is_run_dir(path: Path) -> bool:
    return (path / SUMMARY).is_file()


def expand(patterns: list[str]) -> list[Path]:
    """Run directories named by paths or globs; a folder of runs (results/runs) expands to its runs."""
    found: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) or ([pattern] if Path(pattern).exists() else [])
        if not matches:
            raise UserError(f"no run directory matches '{pattern}'",
                            "pass run directories (results/runs/<run_id>) or a glob; see `nfbench ls runs`")
        for m in map(Path, matches):
            if is_run_dir(m):
                found.append(m)
            elif m.is_dir():
                found.extend(sorted(p for p in m.iterdir() if p.is_dir() and is_run_dir(p)))
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise UserError(f"no finished run (a folder with {SUMMARY}) under {', '.join(patterns)}",
                        "finish the run with `nfbench run` (or `nfbench eval RUN_DIR`) first")
    return unique


def load_run(path: Path) -> Run:
    store = RunStore(path)
    manifest = store.read_json(MANIFEST) if store.exists(MANIFEST) else {}
    # read_jsonl without repair: a report never writes into a run store
    return Run(path=Path(path), manifest=manifest, summary=store.read_json(SUMMARY),
               generations=read_jsonl(store.file(GENERATIONS)), verdicts=read_jsonl(store.file(EXECUTIONS)))


def load_runs(patterns: list[str]) -> list[Run]:
    """Load runs; where several share method x task x backbone x checkpoint (x budget point) (re-runs),
    the newest one is kept. Several checkpoints of one method (e.g. NF-CoT after stage 2 and after RL)
    each keep a row, labelled with the checkpoint's folder name, and so do a sweep's budget points."""
    latest: dict[tuple[str, str, str, str, str], Run] = {}
    for path in expand(patterns):
        run = load_run(path)
        old = latest.get(run.key)
        if old is not None:
            keep, drop = (run, old) if run.created >= old.created else (old, run)
            log.warning("two runs of %s: keeping %s, ignoring %s", "/".join(run.key[:3]), keep.path, drop.path)
            run = keep
        latest[run.key] = run
    per_row = Counter(key[:3] for key in latest)
    models = Counter(key[:4] for key in latest)
    for key, run in latest.items():
        if per_row[key[:3]] > 1:  # several checkpoints, or budget points of one checkpoint
            labels = [Path(run.checkpoint).name or run.run_id] if per_row[key[:3]] > models[key[:4]] else []
            run.variant = " ".join(labels + ([run.budget_label] if run.budget_label else [])) or run.run_id
    return sorted(latest.values(), key=lambda r: (r.task, r.backbone, r.method))

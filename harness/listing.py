"""Text listings for `nfbench ls` (torch-free: tasks never import torch, runs are read as JSON)."""
from __future__ import annotations

import json
from pathlib import Path

from nfbench.harness.errors import UserError
from nfbench.harness.registry import METHODS, TASKS, get_task
from nfbench.harness.store import results_root
from nfbench.sandbox.asserts import self_checked_tests


def list_tasks(data_dir: str | None = None) -> str:
    rows = []
    for name in TASKS.names():
        cls = get_task(name)
        asserts = ""
        try:
            task = cls(Path(data_dir) if data_dir else None)
            splits = task.local_splits()  # a task too big to fetch for a listing counts what is here
            size = sum(splits.values())
            split_text = ", ".join(f"{k} {v}" for k, v in splits.items())
            own, total = self_checked_tests([p for split in splits for p in task.problems(split)])
            if total:  # asserts the judge cannot check apart from the sample (sandbox/asserts.py)
                asserts = f"\n{'':13s} asserts: {own} of {total} tests run in the sample's own process (not parseable)"
        except UserError as e:
            size, split_text = "?", f"data missing: {e}"
        plus = " (+plus tests)" if cls.has_plus else ""
        rows.append(f"{name:13s} {size!s:>5} problems  [{split_text}]{plus}\n"
                    f"{'':13s} {TASKS.entries()[name].summary}\n"
                    f"{'':13s} source: {cls.source}; licence: {cls.licence}{asserts}")
    return "\n".join(rows)


def list_options(method: str) -> str:
    """A method's config fields (`method_config.<name>`) with their defaults and help text, and its stages."""
    import dataclasses

    from nfbench.harness.registry import get_method

    cls = get_method(method)
    rows = [f"{method}: {METHODS.entries()[method].summary}", f"method_config ({cls.config_class.__name__}):"]
    for f in dataclasses.fields(cls.config_class):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        rows.append(f"  {f.name} = {default!r}" + (f"  # {f.metadata['help']}" if "help" in f.metadata else ""))
    stages = cls(cls.config_class()).stages()
    rows.append("stages: " + (", ".join(s.name for s in stages) if stages else "none (training-free)"))
    return "\n".join(rows)


def _pass1(summary: dict) -> str:
    cells = []
    for part in ("base", "plus"):
        entry = ((summary.get("pass_at_k") or {}).get(part) or {}).get("1")
        if entry:
            cells.append(f"{part} {entry['value']:.3f}")
    return ", ".join(cells) or "-"


def list_runs(root: Path | None = None) -> str:
    root = root or results_root() / "runs"
    rows = []
    for run_dir in sorted(p for p in root.glob("*") if p.is_dir()):
        summary_path = run_dir / "summary.json"
        try:
            s = json.loads(summary_path.read_text()) if summary_path.exists() else None
        except ValueError:
            rows.append(f"{run_dir.name:60s} (summary.json is corrupt: re-run its command to rewrite it)")
            continue
        if s is not None:
            rows.append(f"{run_dir.name:60s} {s.get('method')!s:14s} {s.get('task')!s:11s} pass@1: {_pass1(s)}")
        else:
            rows.append(f"{run_dir.name:60s} (unfinished: re-run its command to resume)")
    return "\n".join(rows) or f"no runs under {root}"


def list_checkpoints(root: Path | None = None) -> str:
    root = root or results_root() / "checkpoints"
    from nfbench.harness.checkpoints import read_info, trained_task
    from nfbench.harness.errors import UserError

    dirs = sorted((p for p in root.glob("*/*") if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    rows = []
    for p in dirs:
        try:
            info = read_info(p) or {}
        except UserError:
            info = {"backbone": "(checkpoint.json corrupt)"}
        state = "complete" if info.get("complete") else "unfinished"
        rows.append(f"{p.parent.name:14s} {p.name:34s} {info.get('backbone')!s:14s} for {trained_task(info)!s:8s} {state:10s} {p}")
    return "\n".join(rows) or f"no checkpoints under {root}"

"""`nfbench sweep`: methods' thinking budgets swept in one command.

A method declares its budget knob (methods/base.py: `Method.budget`, the `method_config` option that
bounds its reasoning positions at inference). For each method its weights are resolved and loaded
once (one RunContext, whose loads every generator built from it shares); each budget point is then
an ordinary run (harness/pipeline.run: its own run store, resumable, executed in the sandbox) whose
config is the base one with `method_config.<knob>=<point>`, and whose summary records the point and
what it means next to how the model was trained (`Method.budget_note`). One sandbox serves every
point. `nfbench report` reads the runs like any others and draws the sweep figure from them.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nfbench.harness.errors import UserError
from nfbench.harness.registry import METHODS, get_method

log = logging.getLogger("nfbench")
MAX_POINTS = 64


@dataclass
class Point:
    """One budget point of one method: a finished run."""

    method: str
    value: int
    path: Path
    summary: dict[str, Any]

    @property
    def budget(self) -> dict[str, Any]:
        return self.summary.get("budget") or {}


def parse_budgets(text: str) -> list[int]:
    """"1,2,4,8" -> [1, 2, 4, 8]: distinct non-negative integers, in the order given."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise UserError(f"bad --budget '{text}': not a comma-separated list of integers",
                        "write e.g. --budget 1,2,4,8,16") from None
    if any(v < 0 for v in values):
        raise UserError(f"bad --budget '{text}': budgets are numbers of positions, >= 0", "e.g. --budget 1,2,4,8")
    if len(set(values)) != len(values):
        raise UserError(f"bad --budget '{text}': a budget is listed twice", "list each budget once")
    if len(values) > MAX_POINTS:
        raise UserError(f"--budget lists {len(values)} points", f"sweep at most {MAX_POINTS} at once")
    return values


def knob(name: str) -> Any:
    """The method's BudgetKnob, or a UserError naming the methods that have one."""
    knob = get_method(name).budget
    if knob is None:
        with_knob = [m for m in METHODS.entries() if get_method(m).budget is not None]
        raise UserError(f"method '{name}' has no thinking-budget knob to sweep",
                        f"sweep one of: {', '.join(with_knob)}")
    return knob


def checkpoints(pairs: list[str] | None, methods: list[str]) -> dict[str, str]:
    """["nfcot=DIR", ...] -> {method: DIR}, every method one of the swept ones."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        method, sep, path = pair.partition("=")
        if not sep or not path:
            raise UserError(f"bad --checkpoint '{pair}'", "write --checkpoint METHOD=DIR, e.g. --checkpoint nfcot=ci/cache/nfcot-...")
        if method not in methods:
            raise UserError(f"--checkpoint names '{method}', which is not swept", f"swept: {', '.join(methods)}")
        out[method] = path
    return out


def sweep_id(task: str, methods: list[str], budgets: list[int], overrides: dict[str, Any]) -> str:
    blob = json.dumps([methods, budgets, overrides], sort_keys=True, default=str)
    return f"{task}-{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


def run_sweep(methods: list[str], budgets: list[int], config: str | None, overrides: dict[str, Any],
              checkpoint_of: dict[str, str], force: bool = False) -> list[Point]:
    """Every (method, budget) point as a run; every input is checked before any model loads.
    `overrides`: the run options (`--set`), `method_config.*` only when one method is swept."""
    overrides = dict(overrides)
    from nfbench.harness import pipeline
    from nfbench.harness.config import RunConfig, load_config

    if not methods:
        raise UserError("nfbench sweep needs at least one --method", "e.g. nfbench sweep -m nfcot --budget 1,2,4")
    knobs = {m: knob(m) for m in methods}
    for m, k in knobs.items():
        low = [v for v in budgets if v < k.minimum]
        if low:
            raise UserError(f"budget {low[0]} is below {m}'s minimum of {k.minimum} {k.unit}",
                            f"sweep {m} from {k.minimum} up")
    own = overrides.pop("method_config", None) or {}
    if own and len(methods) > 1:
        raise UserError("--set method_config.* with several methods: one method's options would apply to all",
                        "sweep one method per command to change its options")

    def point_config(method: str, value: int) -> Any:
        return load_config(RunConfig, config, {**overrides, "method": method,
                                                **({"checkpoint": checkpoint_of[method]} if method in checkpoint_of else {}),
                                                "method_config": {**own, knobs[method].option: value}})

    configs = {(m, v): point_config(m, v) for m in methods for v in budgets}  # bad config: nothing loaded yet
    first = configs[(methods[0], budgets[0])]
    task = pipeline.open_task(first.task, first.data_dir, first.task_options)
    pipeline.select_problems(task, first.split, first.task_ids, first.limit)
    points: list[Point] = []
    with pipeline.open_sandbox(first.sandbox, first.sandbox_workers, first.sandbox_engines,
                              first.plus_after_base_fail) as sandbox:
        for m in methods:
            _, ctx = pipeline.open_context(configs[(m, budgets[0])], task)  # one model load per method
            for v in budgets:
                cfg = configs[(m, v)]
                method = get_method(m)(cfg.method_config)
                note = method.budget_note(ctx.info, v)
                log.info("%s at %s=%d%s", m, knobs[m].option, v, f": {note}" if note else "")
                budget = {"option": knobs[m].option, "value": v, "unit": knobs[m].unit, "note": note}
                path, summary = pipeline.run(cfg, force=force, generator=method.generator(ctx), sandbox=sandbox,
                                             info={"budget": budget})
                points.append(Point(m, v, path, summary))
    return points


def table(points: list[Point]) -> str:
    """One line per point: pass@1 with its CI, mean reasoning positions and FLOPs, and the note."""
    lines = [f"{'method':14s} {'budget':>6s}  {'pass@1 [95% CI]':22s} {'positions':>9s} {'FLOPs':>9s}  run"]
    notes: dict[str, str] = {}
    for p in points:
        entry = ((p.summary.get("pass_at_k") or {}).get("base") or {}).get("1")
        cell = f"{entry['value']:.3f} [{entry['ci'][0]:.3f}, {entry['ci'][1]:.3f}]" if entry else "-"
        cost = p.summary.get("cost") or {}
        pos = (cost.get("reasoning_positions") or {}).get("mean")
        flops = (cost.get("flops") or {}).get("mean")
        lines.append(f"{p.method:14s} {p.value:6d}  {cell:22s} {pos if pos is None else f'{pos:9.1f}'!s:>9s} "
                     f"{'-' if flops is None else f'{flops:.3g}':>9s}  {p.path.name}")
        if p.budget.get("note"):
            notes[f"{p.method}@{p.value}"] = p.budget["note"]
    return "\n".join(lines + [f"  {k}: {v}" for k, v in notes.items()])


def write_figure(points: list[Point], out: Path) -> list[Path]:
    """The sweep figure (and sweep.json, the index of its runs) under `out`."""
    from nfbench.harness.report.load import load_runs
    from nfbench.harness.report.sweep_plot import sweep_plot

    out.mkdir(parents=True, exist_ok=True)
    index = [{"method": p.method, "budget": p.budget, "run": str(p.path)} for p in points]
    (out / "sweep.json").write_text(json.dumps(index, indent=1) + "\n")
    return sweep_plot(load_runs([str(p.path) for p in points]), out)

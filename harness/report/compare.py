"""Baseline files and comparing runs with them.

A baseline file (`ci/baseline.json`, or `baseline.json` written by every report):

    {"tolerances": {"pass1_abs": 0.1, "positions_rel": 0.2, "positions_abs": 2.0},
     "entries": {"cot/synth/tiny-llama": {"pass1_base": 0.9, "pass1_base_lo": .., "pass1_base_hi": ..,
                                          "pass1_plus": null, ..., "reasoning_positions_mean": 31.0}}}

Two rules use it. `nfbench report --compare` (rule "ci"): pass@1 outside the baseline's 95% CI, or
mean reasoning positions outside the tolerance, is marked. `nfbench regress` (rule "tolerance"):
pass@1 more than `pass1_abs` below the baseline, or reasoning positions off by more than
max(positions_abs, positions_rel x baseline) in either direction (a method whose reasoning length
changed is broken or changed on purpose; either way the baseline must be looked at).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from nfbench.harness.errors import UserError

DEFAULT_TOLERANCES = {"pass1_abs": 0.10, "positions_rel": 0.20, "positions_abs": 2.0}
KEPT = ("n_problems", "n_samples_per_problem", "pass1_base", "pass1_base_lo", "pass1_base_hi",
        "pass1_plus", "pass1_plus_lo", "pass1_plus_hi", "reasoning_positions_mean", "run_id")
Status = Literal["ok", "regression", "improvement", "changed", "missing", "new"]


def key_of(row: dict[str, Any]) -> str:
    return f"{row['method']}/{row['task']}/{row['backbone']}"


def baseline_from_rows(rows: list[dict[str, Any]], tolerances: dict[str, float] | None = None,
                       note: str = "") -> dict[str, Any]:
    return {"note": note, "tolerances": {**DEFAULT_TOLERANCES, **(tolerances or {})},
            "entries": {key_of(r): {k: r.get(k) for k in KEPT} for r in rows}}


def write_baseline(baseline: dict[str, Any], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")  # atomic: a crash never leaves half a baseline
    tmp.write_text(json.dumps(baseline, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def load_baseline(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"baseline file not found: {path}",
                        "pass a baseline.json written by `nfbench report` or ci/baseline.json") from None
    except ValueError:
        raise UserError(f"baseline file {path} is not valid JSON", "restore it from git or regenerate it") from None
    if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
        raise UserError(f"baseline file {path} has no 'entries' mapping",
                        "regenerate it with `nfbench report ... --out DIR` (DIR/baseline.json)")
    data["tolerances"] = {**DEFAULT_TOLERANCES, **(data.get("tolerances") or {})}
    return data


@dataclass
class Finding:
    key: str
    metric: str
    current: float | None
    baseline: float | None
    allowed: tuple[float, float]
    status: Status

    def describe(self) -> str:
        fmt = (lambda v: "-" if v is None else f"{100 * v:.1f}%") if self.metric.startswith("pass") \
            else (lambda v: "-" if v is None else f"{v:.1f}")
        lo, hi = self.allowed
        return (f"{self.key} {self.metric}: {fmt(self.current)} vs baseline {fmt(self.baseline)} "
                f"(allowed {fmt(lo)}..{fmt(hi)}) -> {self.status}")


def _check(key: str, metric: str, current: float | None, base: float | None, lo: float, hi: float,
           higher_is_better: bool, two_sided: bool) -> Finding | None:
    if base is None:
        return None
    if current is None:
        return Finding(key, metric, None, base, (lo, hi), "missing")
    if lo <= current <= hi:
        status: Status = "ok"
    elif two_sided:
        status = "changed"
    else:
        status = "improvement" if (current > hi) == higher_is_better else "regression"
    return Finding(key, metric, current, base, (lo, hi), status)


def compare(rows: list[dict[str, Any]], baseline: dict[str, Any],
            rule: Literal["ci", "tolerance"]) -> list[Finding]:
    tol = baseline["tolerances"]
    current = {key_of(r): r for r in rows}
    findings: list[Finding] = []
    for key, base in baseline["entries"].items():
        row = current.get(key)
        if row is None:
            findings.append(Finding(key, "run", None, None, (0, 0), "missing"))
            continue
        for part in ("base", "plus"):
            name, ref = f"pass1_{part}", base.get(f"pass1_{part}")
            if rule == "ci":
                lo, hi = base.get(f"{name}_lo", ref), base.get(f"{name}_hi", ref)
            else:
                lo, hi = (ref - tol["pass1_abs"], math.inf) if ref is not None else (0, 0)
            findings.append(_check(key, f"pass@1 {part}", row.get(name), ref, lo, hi, True, False))
        ref = base.get("reasoning_positions_mean")
        if ref is not None:
            slack = max(tol["positions_abs"], tol["positions_rel"] * ref)
            findings.append(_check(key, "reasoning positions", row.get("reasoning_positions_mean"), ref,
                                   ref - slack, ref + slack, False, rule == "tolerance"))
    findings = [f for f in findings if f is not None]
    findings += [Finding(k, "run", None, None, (0, 0), "new") for k in current if k not in baseline["entries"]]
    return findings


FAILING: set[str] = {"regression", "changed", "missing"}

"""Baseline files and comparing runs with them.

A baseline file (`ci/baseline.json`, or `baseline.json` written by every report):

    {"tolerances": {"pass1_abs": 0.1, "positions_rel": 0.2, "positions_abs": 2.0},
     "entries": {"cot/synth/tiny-llama": {"pass1_base": 0.9, "pass1_base_lo": .., "pass1_base_hi": ..,
                                          "pass1_plus": null, ..., "reasoning_positions_mean": 31.0,
                                          "per_problem": {"base": {"synth/0": 1.0, ..}, "plus": null}}}}

`per_problem` (each problem's pass fraction) is written by `nfbench report`; it is optional, and
`nfbench regress --update` leaves it out (its rule does not pair).

Two rules use it. `nfbench report --compare` (rule "ci"): where the baseline has `per_problem` and
the current run was evaluated on exactly the same problems, pass@1 is judged by the paired test of
paired.py (McNemar's test on the problems each run did better on, p < 0.05, direction from wins
against losses; the paired bootstrap CI of the difference is shown with it); otherwise pass@1
outside the baseline's 95% CI is marked. Either way mean reasoning positions outside the tolerance
are marked. `nfbench regress` (rule "tolerance"): pass@1 more than `pass1_abs` below the baseline,
or reasoning positions off by more than max(positions_abs, positions_rel x baseline) in either
direction (a method whose reasoning length changed is broken or changed on purpose; either way the
baseline must be looked at).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from nfbench.harness.errors import UserError
from nfbench.harness.report.paired import Paired, paired

Scores = dict[str, dict[str, dict[str, float]]]  # key_of -> "base"/"plus" -> task_id -> pass fraction

DEFAULT_TOLERANCES = {"pass1_abs": 0.10, "positions_rel": 0.20, "positions_abs": 2.0}
KEPT = ("n_problems", "n_samples_per_problem", "pass1_base", "pass1_base_lo", "pass1_base_hi",
        "pass1_plus", "pass1_plus_lo", "pass1_plus_hi", "reasoning_positions_mean", "run_id")
Status = Literal["ok", "regression", "improvement", "changed", "missing", "new"]


def key_of(row: dict[str, Any]) -> str:
    return f"{row['method']}/{row['task']}/{row['backbone']}"


def baseline_from_rows(rows: list[dict[str, Any]], tolerances: dict[str, float] | None = None,
                       note: str = "", scores: Scores | None = None) -> dict[str, Any]:
    """scores (paired.scores of each row's run) adds `per_problem`, which `--compare` pairs on."""
    entries = {key_of(r): {k: r.get(k) for k in KEPT} for r in rows}
    for key, parts in (scores or {}).items():
        if key in entries:
            entries[key]["per_problem"] = {part: {t: round(v, 6) for t, v in sorted(parts[part].items())}
                                           if parts.get(part) else None for part in ("base", "plus")}
    return {"note": note, "tolerances": {**DEFAULT_TOLERANCES, **(tolerances or {})}, "entries": entries}


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
    paired: Paired | None = None  # set when judged by the paired test (current = A, baseline = B)
    note: str = ""

    def describe(self) -> str:
        fmt = (lambda v: "-" if v is None else f"{100 * v:.1f}%") if self.metric.startswith("pass") \
            else (lambda v: "-" if v is None else f"{v:.1f}")
        lo, hi = self.allowed
        how = f"paired: {self.paired.describe()}" if self.paired else f"allowed {fmt(lo)}..{fmt(hi)}"
        return (f"{self.key} {self.metric}: {fmt(self.current)} vs baseline {fmt(self.baseline)} "
                f"({how}{'; ' + self.note if self.note else ''}) -> {self.status}")


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


def paired_finding(key: str, metric: str, current: dict[str, float], base: dict[str, float]) -> Finding:
    p = paired(current, base)
    assert p is not None  # same non-empty problem set
    status: Status = "ok" if not p.significant() else ("improvement" if p.wins > p.losses else "regression")
    return Finding(key, metric, p.pass1_a, p.pass1_b, (p.diff_lo, p.diff_hi), status, paired=p)


def compare(rows: list[dict[str, Any]], baseline: dict[str, Any],
            rule: Literal["ci", "tolerance"], scores: Scores | None = None) -> list[Finding]:
    """Findings for every baseline entry. With rule "ci", `scores` (this report's per-problem pass
    fractions) lets pass@1 be judged by the paired test where the baseline has the same problems."""
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
            ref_scores = (base.get("per_problem") or {}).get(part)
            cur_scores = ((scores or {}).get(key) or {}).get(part)
            note = ""
            if rule == "ci" and ref_scores and cur_scores:
                if ref_scores.keys() == cur_scores.keys():
                    findings.append(paired_finding(key, f"pass@1 {part}", cur_scores, ref_scores))
                    continue
                note = (f"unpaired: the problem sets differ ({len(ref_scores.keys() & cur_scores.keys())} in "
                        f"common, {len(cur_scores)} now, {len(ref_scores)} in the baseline)")
            if rule == "ci":
                lo, hi = base.get(f"{name}_lo", ref), base.get(f"{name}_hi", ref)
            else:
                lo, hi = (ref - tol["pass1_abs"], math.inf) if ref is not None else (0, 0)
            finding = _check(key, f"pass@1 {part}", row.get(name), ref, lo, hi, True, False)
            if finding is not None:
                finding.note = note
            findings.append(finding)
        ref = base.get("reasoning_positions_mean")
        if ref is not None:
            slack = max(tol["positions_abs"], tol["positions_rel"] * ref)
            findings.append(_check(key, "reasoning positions", row.get("reasoning_positions_mean"), ref,
                                   ref - slack, ref + slack, False, rule == "tolerance"))
    findings = [f for f in findings if f is not None]
    findings += [Finding(k, "run", None, None, (0, 0), "new") for k in current if k not in baseline["entries"]]
    return findings


FAILING: set[str] = {"regression", "changed", "missing"}

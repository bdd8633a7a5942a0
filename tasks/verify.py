"""Check a task's reference solutions in the sandbox: every canonical program should pass.

    python -m nfbench.tasks.verify humaneval mbpp synth [--limit N] [--sandbox docker|local]

prints one line per task: how many references pass base (and plus) tests, and which fail.
"""
from __future__ import annotations

import argparse
import time
from collections import Counter
from typing import Any

from nfbench.harness.registry import get_task
from nfbench.harness.types import Problem, Verdict


def verify(problems: list[Problem], sandbox: Any) -> list[Verdict]:
    """One verdict per problem for its canonical solution (sandbox: a started Sandbox)."""
    verdicts = list(sandbox.execute((p, 0, p.canonical_solution) for p in problems))
    order = {p.task_id: i for i, p in enumerate(problems)}
    return sorted(verdicts, key=lambda v: order[v.task_id])


def passes_in_process(program: str, problem: Problem) -> bool:
    """Run a TRUSTED program and the problem's asserts in this process (no sandbox): for checking
    generated references and hand-written test programs quickly, never for model output."""
    env: dict[str, Any] = {}
    try:
        exec(problem.tests.setup, env)
        exec(program, env)
        for statement in problem.tests.asserts:
            exec(statement, env)
    except AssertionError:
        return False
    return True


def summary(name: str, verdicts: list[Verdict], seconds: float) -> str:
    base = Counter(v.base_status for v in verdicts)
    line = f"{name}: {base['pass']}/{len(verdicts)} references pass base tests"
    if any(v.plus_status is not None for v in verdicts):
        plus = sum(v.plus_status == "pass" for v in verdicts)
        line += f", {plus}/{len(verdicts)} pass plus tests"
    bad = [f"{v.task_id} ({v.base_status}/{v.plus_status}{': ' + v.detail if v.detail else ''})"
           for v in verdicts if v.base_status != "pass" or v.plus_status not in (None, "pass")]
    line += f" [{seconds:.0f} s]"
    return line + (f"; not passing: {', '.join(bad)}" if bad else "")


def main(argv: list[str] | None = None) -> None:
    from nfbench.sandbox.executor import Sandbox

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tasks", nargs="+")
    ap.add_argument("--split", default=None)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--sandbox", default="docker", choices=["docker", "local"])
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args(argv)
    with Sandbox(args.sandbox, workers=args.workers) as sb:
        for name in args.tasks:
            problems = get_task(name)().problems(args.split)[: args.limit]
            t0 = time.time()
            print(summary(name, verify(problems, sb), time.time() - t0), flush=True)


if __name__ == "__main__":
    main()

"""Checking one sample on one phase of an assert problem (HumanEval, MBPP, synth), judge side.

The host parsed each `assert` (nfbench.sandbox.asserts) into the calls of the sample's own
functions, which the candidate evaluates in its namespace and returns as plain data, and the rest
of the assert (`== expected`, `math.isclose(...)`, `set(...) == set(...)`, `abs(a - b) < eps`,
`not ...`), which is evaluated here with `__o[k]` standing for the k-th call's output, the judge's
own builtins and modules, never the sample's. A module the assert names (math) must be bound in the
sample's namespace, as it must for the original assert. Asserts that could not be parsed that way
run as statements in the candidate process, which reports whether they raised: a sample can forge
those, and the phase's result says so (`self_checked`).

Standard library only: this file runs in the image.
"""
from __future__ import annotations

import builtins
import cmath
import math
import pickle
import re
import sys
import time

import wire
from judge_run import Candidate, Dead, Tally, Timeout, TooBig
from judge_zygote import Zygotes

MAX_OUTPUT = 64 << 20
SAFE_BUILTINS = {name: getattr(builtins, name) for name in (
    "abs", "all", "any", "bool", "bytes", "chr", "complex", "dict", "divmod", "enumerate", "filter",
    "float", "frozenset", "hash", "int", "isinstance", "len", "list", "map", "max", "min", "ord", "pow",
    "range", "repr", "reversed", "round", "set", "slice", "sorted", "str", "sum", "tuple", "type", "zip",
    "True", "False", "None", "Exception", "ValueError", "TypeError", "AssertionError")}
MODULES = {"math": math, "cmath": cmath, "re": re, "sys": sys}


def _checks(prob: dict, phase: str) -> list:
    key = f"compiled_{phase}"
    if key not in prob:
        prob[key] = [compile(it["check"], "<assert>", "eval") if it.get("check") else None
                     for it in prob["phases"][phase]]
    return prob[key]


def _judge(check, outs: tuple, item: dict, present: set) -> str:
    """'' if the assert holds for these outputs, else why not."""
    if len(outs) != len(item["calls"]):
        return "sent the wrong number of outputs"
    missing = [m for m in item.get("needs", ()) if m not in present]
    if missing:
        return f"NameError: name '{missing[0]}' is not defined"
    if check is None:
        return ""  # a bare call: it only had to return
    scope = {"__builtins__": SAFE_BUILTINS, "__o": outs, **{m: MODULES[m] for m in item.get("modules", ())}}
    try:
        return "" if eval(check, scope) else "assertion failed"
    except BaseException as e:
        return f"the assertion raised {type(e).__name__}"


def run(prob: dict, code: str, phase: str, limits: dict, zygotes: Zygotes, budget: float | None = None) -> tuple:
    """The program, then `setup`, then each test's asserts in order, in one candidate process;
    `limits` = {"load": s, "tests": [s per test]}. Returns (phase result, [load s, test 0 s, ...])."""
    items, checks, n = prob["phases"][phase], _checks(prob, phase), prob["n_tests"][phase]
    times = [-1.0] * (n + 1)
    tally = Tally(n)
    t0 = time.monotonic()
    end = t0 + (limits["load"] + sum(limits["tests"]) + 1 if budget is None else budget)
    needs = sorted({m for it in items for m in it.get("needs", ())})
    job = {"kind": "asserts", "code": code, "setup": prob["setup"], "needs": needs}
    cand, t, t_start = None, -1, t0
    try:
        cand = Candidate(zygotes, job, end)
        kind, payload = cand.recv(min(end, t0 + limits["load"]), 1 << 16)
        if kind == wire.LOAD_FAILED:
            why = payload[:120].decode(errors="replace")
            return tally.result("error", f"the program raised {why} before the first test", time.monotonic() - t0), times
        if kind != wire.LOADED:
            return tally.result("fail", "sent something that is not an answer", time.monotonic() - t0), times
        try:
            present = set(wire.decode(payload))
        except (wire.Malformed, TypeError):
            present = set()
        times[0] = time.monotonic() - t0
        by_test: list[list[int]] = [[] for _ in range(n)]
        for k, it in enumerate(items):
            by_test[it["test"]].append(k)
        for t in range(n):
            t_start = time.monotonic()
            deadline = min(end, t_start + limits["tests"][t])
            for k in by_test[t]:
                why = _item(cand, items[k], checks[k], present, deadline, tally)
                if why:
                    tally.failed(t)
                    return tally.result("fail", f"test {t}: {why}", time.monotonic() - t0), times
            times[t + 1] = time.monotonic() - t_start
            tally.passed(t)
        tally.success = True
        return tally.result(None, "", time.monotonic() - t0), times
    except Timeout:
        now = time.monotonic()
        if t < 0:
            return tally.result("timeout", f"loading the program: killed at {now - t0:.2f} s, limit "
                                           f"{limits['load']:.2f} s", now - t0), times
        tally.failed(t)
        return tally.result("timeout", f"test {t}: killed at {now - t_start:.2f} s, limit "
                                       f"{limits['tests'][t]:.2f} s", now - t0), times
    except TooBig as e:
        if t < 0:
            return tally.result("fail", "sent something that is not an answer", time.monotonic() - t0), times
        tally.failed(t)
        return tally.result("fail", f"test {t}: an output of {e.args[0] >> 20} MB, more than allowed",
                            time.monotonic() - t0), times
    except Dead:
        return tally.result(*cand.death(), time.monotonic() - t0), times
    except RuntimeError as e:
        return tally.result("error", str(e), time.monotonic() - t0), times
    finally:
        if cand is not None:
            cand.close()


def _item(cand: Candidate, item: dict, check, present: set, deadline: float, tally: Tally) -> str:
    """Run one assert; '' if it held."""
    if "stmt" in item:  # not parseable: the sample's own process says whether it raised
        tally.self_checked = True
        cand.send(wire.STMT, item["stmt"].encode(), deadline)
        kind, payload = cand.recv(deadline, 1 << 16)
        if kind == wire.STMT_OK:
            return ""
        return f"raised {payload[:120].decode(errors='replace')}" if kind == wire.RAISED else "no answer"
    outs: tuple = ()
    if item["calls"]:
        cand.send(wire.CALLS, pickle.dumps(item["calls"], protocol=5), deadline)
        kind, payload = cand.recv(deadline, MAX_OUTPUT)
        if kind == wire.RAISED:
            return f"raised {payload[:120].decode(errors='replace')}"
        if kind == wire.NOT_PLAIN:
            return f"returned a {payload[:120].decode(errors='replace')} where plain data is required"
        if kind != wire.OUTPUT:
            return "sent something that is not an answer"
        try:
            outs = wire.decode(payload)
        except wire.Malformed as e:
            return f"the output is not plain data ({e})"
        if type(outs) is not tuple:
            return "sent something that is not an answer"
    return _judge(check, outs, item, present)


def check(prob: dict, code: str, phase: str, opts: dict, zygotes: Zygotes) -> dict:
    """Per-assert limits come from the host (reference-timed, see schedule.assert_limits); without
    them every assert and the program's load get the fixed `assert_time_limit`."""
    fixed = opts["assert_time_limit"]
    lim = opts.get("assert_limits", {}).get(phase) or {"load": fixed, "tests": [fixed] * prob["n_tests"][phase]}
    return run(prob, code, phase, lim, zygotes)[0]


def reference_times(prob: dict, opts: dict, zygotes: Zygotes) -> dict:
    """Time the reference solution's load and each of its tests, phase by phase, as a check runs
    them (per test at most `timeout_per_task`). Only what passed is timed: the host gives the rest
    the fixed limit."""
    cap = opts["timeout_per_task"]
    out: dict = {}
    for phase in ("base", "plus"):
        n = prob["n_tests"][phase]
        if not n and phase == "plus":
            continue
        res, times = run(prob, prob["canonical"], phase, {"load": cap, "tests": [cap] * n}, zygotes,
                         budget=min(cap * (n + 1) + 1, opts["gt_timeout"] / 2))
        passed = n if res["status"] == "pass" else res["fail_test"] or 0
        out[phase] = {"load": times[0] if times[0] >= 0 else None, "tests": times[1:1 + passed],
                      "status": res["status"]}
    return {"ref_times": out}

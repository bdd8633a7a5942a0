"""The checking side of the sandbox worker: each check runs in its own forked child with evalplus's
own `unsafe_execute` / `reliability_guard`, so verdicts follow evalplus 0.3.1 exactly; `_run_child`
classifies how the child ended (pass, fail, timeout, oom, error).

Standard library + numpy + psutil + the shipped evalplus files only: this file runs in the image,
next to worker.py (the protocol loop and the cleanup between jobs).
"""
from __future__ import annotations

import contextlib
import os
import platform
import shutil
import signal
import tempfile
import time
from copy import deepcopy

import evalplus.eval as ep
from evalplus.eval import _FAILED, _SUCCESS, _UNKNOWN, is_floats
from evalplus.eval import utils as ep_utils
from worker_child import CTX, Child, child_prologue
from worker_truth import RECOMPUTE, expected_outputs

# Shared memory without locks (nothing writes it concurrently): set when a per-test time limit fires,
# so a timeout is told apart from a wrong answer
TIMED_OUT = CTX.RawValue("i", 0)


@contextlib.contextmanager
def _flagging_time_limit(seconds: float):
    """evalplus's own `time_limit`, remembering that it fired (evalplus reports a timeout as "fail")."""
    try:
        with ep_utils.time_limit(seconds):
            yield
    except ep_utils.TimeoutException:
        TIMED_OUT.value = 1
        raise


# Set once, inherited by every child: the flagging time limit, and evalplus's memory cap computed
# once (it is min(EVALPLUS_MAX_MEMORY_BYTES, total RAM); psutil would re-read /proc/meminfo per child).
ep.time_limit = _flagging_time_limit
MAX_MEMORY_BYTES = ep.query_maximum_memory_bytes()
ep.query_maximum_memory_bytes = lambda: MAX_MEMORY_BYTES
# Cached once here rather than looked up in every child (~0.3 ms each): the temp root
# create_tempdir uses, and the uname reliability_guard checks
tempfile.gettempdir()
platform.uname()


def _evalplus_child(*args) -> None:
    child_prologue()
    ep.unsafe_execute(*args)


def _recomputing_child(canonical: str, todo: list[int], extra, *args) -> None:
    """Expected outputs too big to ship (worker_truth._too_big) are computed here by the canonical
    solution, as trusted_exec does (fresh exec, deepcopied input), before any untrusted code runs;
    `extra` tells the parent how long that took (it is not the sample's time)."""
    child_prologue()
    t0 = time.monotonic()
    env: dict = {}
    exec(canonical, env)
    fn, inputs, expected = env[args[1]], args[3], args[4]
    for i in todo:
        expected[i] = fn(*deepcopy(inputs[i]))
    extra.value = time.monotonic() - t0
    _evalplus_child(*args)


def _asserts_child(code, setup, tests, limits, load_limit, times, stat, details, progress) -> None:
    """The program, then `setup`, then each assert under its own limit; times[0] gets the load's
    seconds and times[i + 1] assert i's (read back by the reference-timing job)."""
    child_prologue()
    with ep_utils.create_tempdir():
        cleanup = shutil.rmtree, os.rmdir, os.chdir  # what leaving the tempdir needs, after the guard
        ep_utils.reliability_guard(maximum_memory_bytes=MAX_MEMORY_BYTES)
        try:
            _run_asserts_guarded(code, setup, tests, limits, load_limit, times, stat, details, progress)
        finally:
            shutil.rmtree, os.rmdir, os.chdir = cleanup


def _run_asserts_guarded(code, setup, tests, limits, load_limit, times, stat, details, progress) -> None:
    env: dict = {}
    try:
        t0 = time.perf_counter()
        with _flagging_time_limit(load_limit), ep_utils.swallow_io():
            exec(compile(code, "<solution>", "exec"), env)
            exec(compile(setup, "<setup>", "exec"), env)
        times[0] = time.perf_counter() - t0
    except BaseException:
        stat.value = _FAILED
        return
    for i, test in enumerate(tests):
        try:
            t0 = time.perf_counter()
            with _flagging_time_limit(limits[i]), ep_utils.swallow_io():
                exec(compile(test, f"<test {i}>", "exec"), env)
            times[i + 1] = time.perf_counter() - t0
        except BaseException:
            details[i] = False
            progress.value += 1
            stat.value = _FAILED
            return
        details[i] = True
        progress.value += 1
    stat.value = _SUCCESS


def _oom_kills() -> int:
    """The container's OOM-kill counter (cgroup v1 or v2); -1 where it cannot be read."""
    for path, key in (("/sys/fs/cgroup/memory/memory.oom_control", "oom_kill"),
                      ("/sys/fs/cgroup/memory.events", "oom_kill")):
        try:
            for line in open(path):
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value)
        except OSError:
            continue
    return -1


def _run_child(target, args, n_tests: int, timeout: float, extra=None) -> dict:
    """Fork one checking child, wait at most `timeout`, and classify what happened.

    Mirrors evalplus's `untrusted_check` (shared-memory status, progress and per-test details) and
    refines its statuses: evalplus calls a per-test timeout "fail" and a crash "timeout".
    """
    stat = CTX.RawValue("i", _UNKNOWN)
    details = CTX.RawArray("b", [False] * n_tests)
    progress = CTX.RawValue("i", 0)
    TIMED_OUT.value = 0
    ooms = _oom_kills()
    t0 = time.monotonic()
    p = Child(target, (*args, stat, details, progress))
    killed = not p.join(timeout)
    if killed and extra is not None and extra.value > 0:  # the child's own recomputation took this long
        killed = not p.join(extra.value)
    if killed:
        p.kill()
    elapsed = time.monotonic() - t0 - (extra.value if extra is not None else 0.0)
    done, status = progress.value, stat.value
    det = list(details[:done])
    first_bad = next((i for i, ok in enumerate(det) if not ok), None)
    out = {"status": "pass", "fail_test": None, "detail": "", "seconds": elapsed,
           "evalplus_status": {_SUCCESS: "pass", _FAILED: "fail"}.get(status, "timeout")}
    if status == _SUCCESS and len(det) == n_tests and all(det):
        return out
    out["fail_test"] = first_bad if first_bad is not None else min(done, max(n_tests - 1, 0))
    if status == _SUCCESS:
        out["evalplus_status"] = "fail"
    if killed:
        out.update(status="timeout", detail=f"killed after {timeout:.1f}s")
    elif status == _FAILED and TIMED_OUT.value:
        out.update(status="timeout", detail="test exceeded its time limit")
    elif status == _FAILED and done == 0:
        out.update(status="error", detail="the program failed before the first test", fail_test=0)
    elif status == _UNKNOWN:
        code = p.exitcode
        if code == -signal.SIGKILL and ooms >= 0 and _oom_kills() > ooms:
            out.update(status="oom", detail="killed by the out-of-memory killer")
        else:
            how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            out.update(status="error", detail=f"the process ended before reporting ({how})")
    else:
        out.update(status="fail")
    return out


def check_evalplus(prob: dict, code: str, phase: str, lo: int, hi: int, opts: dict) -> dict:
    """Tests lo..hi-1 of a phase (all of them unless the host split a slow phase into chunks)."""
    expected = expected_outputs(prob, phase)
    limits = [max(opts["min_time_limit"], opts["gt_time_limit_factor"] * t)
              for t in prob["expected"][f"{phase}_time"]]
    # evalplus: min(EVALPLUS_TIMEOUT_PER_TASK=60, sum(limits)) + 1, then join(timeout + 1); a chunk
    # gets the whole phase's budget and the host checks the chunks' summed time against it
    timeout = min(opts["timeout_per_task"], sum(limits)) + 2
    atol = prob["atol"]
    if atol == 0 and any(is_floats(e) for e in expected[:lo]):
        atol = 1e-6  # what unsafe_execute would have switched to while running the earlier tests
    args = (prob["dataset"], prob["entry_point"], code, prob[f"{phase}_inputs"][lo:hi], expected[lo:hi],
            limits[lo:hi], atol, True)
    todo = [i for i, e in enumerate(args[4]) if e is RECOMPUTE]
    if todo:
        extra = CTX.RawValue("d", 0.0)
        return _run_child(_recomputing_child, (prob["canonical"], todo, extra, *args), hi - lo, timeout, extra)
    return _run_child(_evalplus_child, args, hi - lo, timeout)


def _run_asserts(code: str, setup: str, tests: list[str], limits: list[float], load_limit: float,
                 timeout: float | None = None) -> tuple:
    times = CTX.RawArray("d", [-1.0] * (len(tests) + 1))
    timeout = load_limit + sum(limits) + 1 if timeout is None else timeout
    out = _run_child(_asserts_child, (code, setup, tests, limits, load_limit, times), len(tests), timeout)
    return out, list(times)


def check_asserts(prob: dict, code: str, phase: str, lo: int, hi: int, opts: dict) -> dict:
    """Per-assert limits come from the host (reference-timed, see executor.assert_limits); without
    them every assert and the program's load get the fixed `assert_time_limit`."""
    tests = (prob["asserts"] if phase == "base" else prob["plus_asserts"])[lo:hi]
    fixed = opts["assert_time_limit"]
    lim = opts.get("assert_limits") or {"load": fixed, "tests": [fixed] * len(tests)}
    return _run_asserts(code, prob["setup"], tests, lim["tests"], lim["load"])[0]


def reference_times(prob: dict, opts: dict) -> dict:
    """Time the reference solution's load and each of its asserts, phase by phase, in the same child
    as a check (per assert at most `timeout_per_task`). Only what passed is timed: the host gives
    the rest the fixed limit."""
    cap = opts["timeout_per_task"]
    out: dict = {}
    for phase, tests in (("base", prob["asserts"]), ("plus", prob["plus_asserts"])):
        if not tests and phase == "plus":
            continue
        res, times = _run_asserts(prob["canonical"], prob["setup"], tests, [cap] * len(tests), cap,
                                  timeout=min(cap * (len(tests) + 1) + 1, opts["gt_timeout"] / 2))
        passed = len(tests) if res["status"] == "pass" else res["fail_test"] or 0
        out[phase] = {"load": times[0] if times[0] >= 0 else None, "tests": times[1:1 + passed],
                      "status": res["status"]}
    return {"ref_times": out}


CHECKS = {"evalplus": check_evalplus, "asserts": check_asserts}

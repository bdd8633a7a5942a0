"""The checking side of the sandbox worker: each check (and each ground-truth computation) runs in
its own forked child with evalplus's own `unsafe_execute` / `reliability_guard`, so verdicts follow
evalplus 0.3.1 exactly; `_run_child` classifies how the child ended (pass, fail, timeout, oom, error).

Standard library + numpy + psutil + the shipped evalplus files only: this file runs in the image,
next to worker.py (the protocol loop and the cleanup between jobs).
"""
from __future__ import annotations

import gc
import json
import multiprocessing as mp
import os
import pickle
import select
import shutil
import signal
import time
import zlib
from copy import deepcopy

from evalplus.eval import _FAILED, _SUCCESS, _UNKNOWN, is_floats, query_maximum_memory_bytes, unsafe_execute
from evalplus.eval import utils as ep_utils
from evalplus.eval._special_oracle import MBPP_OUTPUT_NOT_NONE_TASKS

CTX = mp.get_context("fork")
PROTO_FDS: list[int] = []  # closed first thing in every child: untrusted code must not talk to the host
# Shared memory without locks (nothing writes it concurrently): set by the per-test alarm, so a
# timeout is told apart from a wrong answer
TIMED_OUT = CTX.RawValue("i", 0)


class Child:
    """A forked child running target(*args): a bare os.fork, ~2 ms cheaper per job than
    multiprocessing.Process (no bootstrap, finalizers, thread join or sentinel pipe at exit).
    Exit code as multiprocessing reports it: 0, 1 after an exception, -N after signal N."""

    def __init__(self, target, args: tuple):
        self.exitcode: int | None = None
        self.pid = os.fork()
        if self.pid == 0:
            code = 1
            try:
                target(*args)
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else int(e.code is not None)
            except BaseException:
                pass
            finally:
                os._exit(code)
        try:  # a pidfd becomes readable when the child exits (not when its fds close: a detached
            self._fd = os.pidfd_open(self.pid)  # grandchild keeping them open must not delay us)
        except (AttributeError, OSError):
            self._fd = None

    def _reap(self, flags: int) -> bool:
        if self.exitcode is None:
            pid, status = os.waitpid(self.pid, flags)
            if pid:
                self.exitcode = os.waitstatus_to_exitcode(status)
                if self._fd is not None:
                    os.close(self._fd)
        return self.exitcode is not None

    def join(self, timeout: float) -> bool:
        """Wait at most `timeout` seconds; True if the child has exited."""
        if self._fd is not None and self.exitcode is None:
            select.select([self._fd], [], [], max(timeout, 0))
            return self._reap(os.WNOHANG)
        end, nap = time.monotonic() + timeout, 0.0005
        while not self._reap(os.WNOHANG) and time.monotonic() < end:
            time.sleep(nap)
            nap = min(nap * 2, 0.02)
        return self.exitcode is not None

    def kill(self) -> None:
        if self.exitcode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap(0)


def _patched_time_limit(seconds: float):
    """evalplus's `time_limit`, but remembering that it fired (evalplus reports it as a plain fail)."""
    real = ep_utils.time_limit(seconds)

    class _Flagging:
        def __enter__(self):
            return real.__enter__()

        def __exit__(self, typ, exc, tb):
            if typ is ep_utils.TimeoutException:
                TIMED_OUT.value = 1
            return real.__exit__(typ, exc, tb)

    return _Flagging()


def _child_prologue() -> None:
    for fd in PROTO_FDS:
        try:
            os.close(fd)
        except OSError:
            pass


def _evalplus_child(*args) -> None:
    _child_prologue()
    import evalplus.eval as ep

    ep.time_limit = _patched_time_limit
    unsafe_execute(*args)


def _recomputing_child(canonical: str, todo: list[int], extra, *args) -> None:
    """Expected outputs too big to ship (see _gt_child) are computed here by the canonical solution,
    as trusted_exec does (fresh exec, deepcopied input), before any untrusted code runs; `extra`
    tells the parent how long that took (it is not the sample's time)."""
    _child_prologue()
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
    _child_prologue()
    with ep_utils.create_tempdir():
        cleanup = shutil.rmtree, os.rmdir, os.chdir  # what leaving the tempdir needs, after the guard
        ep_utils.reliability_guard(maximum_memory_bytes=query_maximum_memory_bytes())
        try:
            _run_asserts_guarded(code, setup, tests, limits, load_limit, times, stat, details, progress)
        finally:
            shutil.rmtree, os.rmdir, os.chdir = cleanup


def _run_asserts_guarded(code, setup, tests, limits, load_limit, times, stat, details, progress) -> None:
    env: dict = {}
    try:
        t0 = time.perf_counter()
        with _patched_time_limit(load_limit), ep_utils.swallow_io():
            exec(compile(code, "<solution>", "exec"), env)
            exec(compile(setup, "<setup>", "exec"), env)
        times[0] = time.perf_counter() - t0
    except BaseException:
        stat.value = _FAILED
        return
    for i, test in enumerate(tests):
        try:
            t0 = time.perf_counter()
            with _patched_time_limit(limits[i]), ep_utils.swallow_io():
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


def _gt_child(prob: dict, spans: list[tuple[str, int, int]], budget: float, huge: int, conn) -> None:
    """evalplus's trusted_exec (a fresh exec of the solution per phase, deepcopy each input, time
    each call) over each span (phase, lo, hi) in turn, stopping after `budget` seconds so that the
    host can spread a slow problem over several workers."""
    _child_prologue()
    not_none = prob["dataset"] == "mbpp" and prob["entry_point"] in MBPP_OUTPUT_NOT_NONE_TASKS
    try:
        all_times, blobs, start = {}, [], time.time()
        for phase, lo, hi in spans:
            if time.time() - start > budget:
                break
            env: dict = {}
            exec(prob["canonical"], env)
            fn = env[prob["entry_point"]]
            outputs, times = [], []
            for inp in prob[f"{phase}_inputs"][lo:hi]:
                inp = deepcopy(inp)
                t0 = time.time()
                outputs.append(fn(*inp))
                times.append(time.time() - t0)
                if time.time() - start > budget:
                    break
            if not_none:
                outputs = [o is not None for o in outputs]
            all_times[phase] = times
            if _too_big(outputs, huge):
                blobs.append(b"R%d" % len(outputs))  # each check recomputes them (Mbpp/255: ~8 s less)
            else:
                blobs.append(zlib.compress(pickle.dumps(outputs, protocol=4), 1))
        conn.send_bytes(b"+" + json.dumps({"times": all_times, "sizes": [len(b) for b in blobs]}).encode())
        conn.send_bytes(b"".join(blobs))
    except BaseException as e:  # the canonical solution itself failed
        conn.send_bytes(b"!" + f"{type(e).__name__}: {e}"[:500].encode())


def ground_truth(prob: dict, phase: str, lo: int, hi: int, opts: dict) -> dict:
    """Outputs and times of tests lo..hi-1 of a phase, or with phase "all" of both phases in one
    child (one job per problem instead of two: most problems need milliseconds)."""
    spans = [(p, 0, len(prob[f"{p}_inputs"])) for p in ("base", "plus")] if phase == "all" else [(phase, lo, hi)]
    recv, send = CTX.Pipe(duplex=False)
    p = Child(_gt_child, (prob, spans, opts["gt_budget"], opts["recompute_len"], send))
    send.close()
    data = recv.recv_bytes() if recv.poll(opts["gt_timeout"]) else None
    blob = recv.recv_bytes() if data and data[:1] == b"+" and recv.poll(opts["gt_timeout"]) else None
    recv.close()
    if not p.join(1):
        p.kill()
    if data is None:
        return {"error": f"canonical solution gave no result in {opts['gt_timeout']:.0f}s (exit {p.exitcode})"}
    if data[:1] == b"!" or blob is None:
        return {"error": data[1:].decode(errors="replace") or "no outputs"}
    # The outputs go back as opaque compressed pickles (one per phase, their byte sizes in
    # `gt_sizes`) that only workers ever open (the host keeps and forwards them): Mbpp/255's outputs
    # pickle to 780 MB, a container's stdout runs at ~25 MB/s through the Docker daemon, and
    # re-pickling that on the host would take a minute.
    head = json.loads(data[1:])
    return {"times": head["times"], "gt_sizes": head["sizes"], "gt_bytes": blob}


class _Recompute:
    """Stands for an expected output that the checking child computes itself."""


RECOMPUTE = _Recompute()


def _too_big(outputs: list, huge: int) -> bool:
    """Outputs whose pickling, shipping and unpickling would cost more than computing them again
    in each check: a container of >= `huge` items (Mbpp/255: 1.7M tuples, 780 MB pickled), and no
    floats (the atol switch of later chunks reads the earlier outputs without unpacking them)."""
    return any(isinstance(o, (list, tuple, dict, set, frozenset)) and len(o) >= huge for o in outputs) \
        and not any(is_floats(o) for o in outputs)


def _unpack(blob: bytes) -> list:
    return [RECOMPUTE] * int(blob[1:]) if blob[:1] == b"R" else pickle.loads(zlib.decompress(blob))


def expected_outputs(prob: dict, phase: str) -> list:
    """A phase's expected outputs, unpacked on first use: {phase: [(lo, blob), ...]} -> one list.
    Only the phase a job checks is unpacked (Mbpp/255's plus outputs take ~5 s and 1.3 GB)."""
    exp = prob["expected"]
    if phase not in exp:
        with frozen_after():
            exp[phase] = [out for _, blob in sorted(exp["blobs"].pop(phase)) for out in _unpack(blob)]
    return exp[phase]


class frozen_after:
    """Unpickle big data with the cyclic GC off (it would rescan the growing heap again and again),
    then freeze the heap: GC in the worker and in its forked children (which would otherwise touch,
    and so copy, every inherited page) skips it. Freed data is still freed by reference counting."""

    def __enter__(self):
        gc.disable()

    def __exit__(self, *exc):
        gc.collect(1)  # young cycles only: cheap, and nothing but the worker's own garbage
        gc.freeze()
        gc.enable()


CHECKS = {"evalplus": check_evalplus, "asserts": check_asserts}

"""Checking one sample of an io problem (LiveCodeBench), on the judge's side.

The candidate (candidate_io.py, behind candidate.py's frames) runs the program per test and sends
back its stdout (stdin problems) or the value `Solution().<func_name>(*args)` returned (functional
problems) as plain data; this module holds the recorded outputs and decides with LiveCodeBench's
rules (io_rules.py), the judge's own json, decimal and `==`. Limits are LiveCodeBench's and are kept
from here: `time_limit` (6 s) to load the program and per test, measured from sending the input to
the arrival of the output, and (time_limit + 1) x tests + 5 s for the whole sample; at a limit the
candidate's process group is killed. The first failing test ends the check, as in LiveCodeBench.

Payload (built on the host from the Problem): {"kind": "io", "func_name": str, "time_limit": float,
"io_tests": [{"input", "output", "testtype"}, ...], "n_tests": {"base": n, "plus": 0}}.

Standard library only: this file runs in the image.
"""
from __future__ import annotations

import pickle
import time

import io_rules
import wire
from judge_run import Candidate, Dead, Tally, Timeout, TooBig
from judge_zygote import Zygotes

# bytes one output may take on the wire: judge_run.BUFFER_MAX, above which Candidate.recv streams a
# frame instead of returning it; a candidate's stdout is capped a little below, for the frame's header
MAX_OUTPUT = 64 << 20
STDOUT_CAP = MAX_OUTPUT - (64 << 10)


def _prepared(prob: dict) -> dict:
    """Once per judge: each test's input frame and its expected output, decoded."""
    if "prepared" not in prob:
        tests = io_rules.prepare_tests(prob["io_tests"], prob["func_name"])
        prob["prepared"] = {
            "frames": [wire.frame(wire.INPUT, pickle.dumps(args, protocol=5)) for args, _ in tests],
            "expected": [exp for _, exp in tests],
        }
    return prob["prepared"]


def _why(kind: bytes, payload: bytes) -> str:
    name = payload[:120].decode(errors="replace")
    if kind == wire.RAISED:
        return f"printed more than {MAX_OUTPUT >> 20} MB" if name.endswith("OutputLimit") else f"raised {name}"
    if kind == wire.NOT_PLAIN:
        return f"returned a {name} where plain data is required"
    return "sent something that is not an answer"


def check(prob: dict, code: str, phase: str, opts: dict, zygotes: Zygotes) -> dict:
    functional, limit = bool(prob["func_name"]), float(prob["time_limit"] or io_rules.TIME_LIMIT)
    t0 = time.monotonic()
    try:
        prep = _prepared(prob)
    except ValueError as e:  # a recorded test that is not JSON: no sample can pass
        return Tally(len(prob["io_tests"])).result("error", f"the problem's tests are not valid JSON ({e})", 0.0)
    frames, expected = prep["frames"], prep["expected"]
    n, tally = len(frames), Tally(len(frames))
    budget = io_rules.sample_budget(n, limit)
    end = t0 + budget
    job = {"kind": "io", "code": code, "func_name": prob["func_name"], "max_output": STDOUT_CAP}
    cand, i, sent = None, -1, t0
    try:
        cand = Candidate(zygotes, job, end)
        kind, payload = cand.recv(min(end, t0 + limit), 1 << 16)
        if kind == wire.LOAD_FAILED:
            why = payload[:120].decode(errors="replace")
            return tally.result("error", f"the program raised {why} before the first test", time.monotonic() - t0)
        if kind != wire.LOADED:
            return tally.result("fail", "sent something that is not an answer", time.monotonic() - t0)
        for i in range(n):
            cand.send_frame(frames[i], end)
            sent = time.monotonic()
            kind, payload = cand.recv(min(end, sent + limit), MAX_OUTPUT)
            if kind != wire.OUTPUT:
                tally.failed(i)
                return tally.result("fail", f"test {i}: {_why(kind, payload)}", time.monotonic() - t0)
            try:
                out = wire.decode(payload)
            except wire.Malformed as e:
                tally.failed(i)
                return tally.result("fail", f"test {i}: the output is not plain data ({e})", time.monotonic() - t0)
            why = io_rules.verdict(out, expected[i], functional)
            if why:
                tally.failed(i)
                return tally.result("fail", f"test {i}: {why}", time.monotonic() - t0)
            tally.passed(i)
        tally.success = True
        return tally.result(None, "", time.monotonic() - t0)
    except Timeout:
        now = time.monotonic()
        if now < end - 1e-3:  # the load's or a test's own limit, not the sample's
            if i >= 0:
                tally.failed(i)
            what = f"test {i}" if i >= 0 else "loading the program"
            return tally.result("timeout", f"{what}: killed at {now - sent:.2f} s, limit {limit:.2f} s", now - t0)
        return tally.result("timeout", f"killed at {now - t0:.1f} s, sample limit {budget:.1f} s", now - t0)
    except TooBig as e:
        tally.failed(i)
        return tally.result("fail", f"test {i}: an output of {e.args[0] >> 20} MB, more than allowed",
                            time.monotonic() - t0)
    except Dead:
        how = cand.death() if cand is not None else ("error", "the candidate process ended before the program")
        return tally.result(*how, time.monotonic() - t0)
    except RuntimeError as e:  # no candidate process could be started
        return tally.result("error", str(e), time.monotonic() - t0)
    finally:
        if cand is not None:
            cand.close()

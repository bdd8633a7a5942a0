"""Checking one sample on one phase of an evalplus problem, on the judge's side.

The candidate computes `fn(*input)` per test; everything evalplus's `unsafe_execute` does after
that runs here, in the judge, with the judge's own (unpatched) numpy, evalplus oracles and
builtins: `out == exp`, the special oracles of MBPP+ and HumanEval+, the switch to atol=1e-6 once a
float output is seen, `np.allclose`, fast-check (stop at the first failing test). Per-test limits
are evalplus's `max(min_time_limit, factor x ground-truth seconds)`, measured from the moment the
judge sent the input to the arrival of its output; the phase's whole budget is evalplus's
`min(timeout_per_task, sum of limits) + 2`.

Standard library + numpy + the shipped evalplus files only: this file runs in the image.
"""
from __future__ import annotations

import pickle
import time

import numpy as np
import wire
from evalplus.eval import is_floats
from evalplus.eval._special_oracle import (MBPP_OUTPUT_NOT_NONE_TASKS, MBPP_OUTPUT_SET_EQ_TASKS,
                                           _digit_distance_nums, _poly, _surface_Area)
from judge_run import BUFFER_MAX, DIFFERENT, SAME, Candidate, Dead, Tally, Timeout, TooBig
from judge_truth import BIG_OUTPUT, big_encodings, expected_outputs
from judge_zygote import Zygotes

MIN_OUTPUT_CAP = 64 << 20  # bytes a candidate may send for one output; more if the expected one is big
BYTES_PER_SECOND = 25e6  # time allowed on top of a test's limit to encode and send a big output
MBPP_ORACLES = {"are_equivalent", "sum_div", "surface_Area", "digit_distance_nums",
                *MBPP_OUTPUT_SET_EQ_TASKS, *MBPP_OUTPUT_NOT_NONE_TASKS}


def compare(dataset: str, entry_point: str, inp, out, exp, atol: float, same: bool = False) -> tuple[str, float]:
    """evalplus 0.3.1's per-test check (unsafe_execute, after `out = fn(*inp)`): returns
    ("pass" | "fail" | "uncounted", atol for the next tests). `same`: the candidate's bytes are
    the expected output's own encoding, so `out == exp` holds (the caller made sure no NaN, and no
    oracle that looks at `out`, is involved)."""
    try:
        exact_match = True if same else out == exp
        if dataset == "mbpp":
            if entry_point == "are_equivalent":  # Mbpp/164
                exact_match = exact_match or True
            elif entry_point == "sum_div":  # Mbpp/295
                exact_match = exact_match or out == 0
            elif entry_point == "surface_Area":  # Mbpp/581
                exact_match = exact_match or abs(out - _surface_Area(*inp)) <= atol
            elif entry_point == "digit_distance_nums":  # Mbpp/558
                exact_match = exact_match or out == _digit_distance_nums(*inp)
            elif entry_point in MBPP_OUTPUT_SET_EQ_TASKS:
                exact_match = set(out) == set(exp)
            elif entry_point in MBPP_OUTPUT_NOT_NONE_TASKS:  # exp: whether the output is not None
                exact_match = out == exp if isinstance(out, bool) else exp == (out is not None)
        if dataset == "humaneval" and entry_point == "find_zero":
            assert abs(_poly(*inp, out)) <= atol
            return "uncounted", atol  # evalplus `continue`s here, before counting the test
        if atol == 0 and is_floats(exp):
            atol = 1e-6
        if not exact_match and atol != 0:
            assert type(out) == type(exp)
            if isinstance(exp, (list, tuple)):
                assert len(out) == len(exp)
            assert np.allclose(out, exp, rtol=1e-07, atol=atol)
        else:
            assert exact_match
        return "pass", atol
    except BaseException:
        return "fail", atol


def _prepared(prob: dict, phase: str) -> dict:
    """Per phase, once per judge: each test's input frame as the candidate receives it, the expected
    outputs' plain-data encodings (None where an output is not plain data), which tests may be
    decided by byte equality alone, which expected outputs are floats, and per-test bounds."""
    key = f"prepared_{phase}"
    if key not in prob:
        expected = expected_outputs(prob, phase)
        oracle = (prob["dataset"] == "mbpp" and prob["entry_point"] in MBPP_ORACLES) or \
            (prob["dataset"] == "humaneval" and prob["entry_point"] == "find_zero")
        big = big_encodings(prob, phase)  # computed with the ground truth, as a candidate encodes
        enc, kinds, nan = [], [], []
        for i, e in enumerate(expected):
            if i in big:  # its version-4 bytes decode to an equal value, so it holds no NaN
                enc.append(big[i])
                kinds.append(wire.INPUT_V4)
                nan.append(False)
                continue
            try:
                enc.append(wire.encode(e, walk=False))  # ground truth holds plain data: marshal writes it
            except (wire.NotPlain, ValueError):
                enc.append(None)
            kinds.append(wire.INPUT)
            nan.append(enc[-1] is not None and b"nan" in enc[-1])  # version 0 writes floats as text
        size = [len(e) if e is not None else 0 for e in enc]
        prob[key] = {
            "frames": [wire.frame(kind, pickle.dumps(i, protocol=5))
                       for kind, i in zip(kinds, prob[f"{phase}_inputs"])],
            "enc": enc,
            # a NaN is not equal to itself: those outputs are compared value by value
            "same_ok": [e is not None and not oracle and not has_nan for e, has_nan in zip(enc, nan)],
            "floats": [is_floats(e) for e in expected],
            "cap": [max(MIN_OUTPUT_CAP, 8 * n) for n in size],
            "big": [n > BUFFER_MAX for n in size],
            "send_s": [n / BYTES_PER_SECOND + (0.5 if n > BIG_OUTPUT else 0.0) for n in size],
        }
    return prob[key]


def _why(kind: bytes, payload: bytes) -> str:
    if kind == wire.RAISED:
        return f"raised {payload[:120].decode(errors='replace')}"
    if kind == wire.NOT_PLAIN:
        return f"returned a {payload[:120].decode(errors='replace')} where plain data is required"
    return "sent something that is not an answer"


def check(prob: dict, code: str, phase: str, opts: dict, zygotes: Zygotes) -> dict:
    prep = _prepared(prob, phase)
    expected, inputs = expected_outputs(prob, phase), prob[f"{phase}_inputs"]
    limits = [max(opts["min_time_limit"], opts["gt_time_limit_factor"] * t) for t in prob["expected"][f"{phase}_time"]]
    budget = min(opts["timeout_per_task"], sum(limits)) + 2
    dataset, entry_point, atol = prob["dataset"], prob["entry_point"], prob["atol"]
    frames, encs, same_ok, floats, caps, send_s, big = (
        prep[k] for k in ("frames", "enc", "same_ok", "floats", "cap", "send_s", "big"))
    n, tally = len(inputs), Tally(len(inputs))
    t0 = time.monotonic()
    end = t0 + budget
    job = {"kind": "evalplus", "code": code, "entry_point": entry_point,
           "not_none": dataset == "mbpp" and entry_point in MBPP_OUTPUT_NOT_NONE_TASKS}
    cand, i, sent = None, -1, t0
    try:
        cand = Candidate(zygotes, job, end)
        kind, payload = cand.recv(end, 1 << 16)
        if kind == wire.LOAD_FAILED:
            why = payload[:120].decode(errors="replace")
            return tally.result("error", f"the program raised {why} before the first test", time.monotonic() - t0)
        if kind != wire.LOADED:
            return tally.result("fail", "sent something that is not an answer", time.monotonic() - t0)
        if n:
            cand.send_frame(frames[0], end)
        sent, extra = time.monotonic(), 0.0
        recv, send_frame, monotonic = cand.recv, cand.send_frame, time.monotonic
        for i in range(n):
            kind, payload = recv(min(end, sent + limits[i] + send_s[i] + extra), caps[i], encs[i] if big[i] else None)
            extra = send_s[i]  # the next test may pay for dropping this output in the candidate
            if payload is SAME and kind == wire.OUTPUT:
                payload = encs[i]
            if kind == wire.OUTPUT and same_ok[i] and payload == encs[i]:
                # the expected output's own bytes: `out == exp` holds, no oracle looks at `out`;
                # the next input goes out before the books are kept
                if i + 1 < n:
                    send_frame(frames[i + 1], end)
                sent = monotonic()
                if atol == 0 and floats[i]:
                    atol = 1e-6
                tally.passed(i)
                continue
            if payload is SAME or payload is DIFFERENT:  # over BUFFER_MAX: compared as bytes only
                tally.failed(i)
                return tally.result("fail", f"test {i}: an output over {BUFFER_MAX >> 20} MB that is not the "
                                            "expected one byte for byte", monotonic() - t0)
            if kind != wire.OUTPUT:
                tally.failed(i)
                return tally.result("fail", f"test {i}: {_why(kind, payload)}", monotonic() - t0)
            try:  # the slow path (decoding takes judge time): the next input waits for the verdict
                out = wire.decode(payload)
            except wire.Malformed as e:
                tally.failed(i)
                return tally.result("fail", f"test {i}: the output is not plain data ({e})", monotonic() - t0)
            verdict, atol = compare(dataset, entry_point, inputs[i], out, expected[i], atol)
            if verdict == "fail":
                tally.failed(i)
                return tally.result("fail", f"test {i}: wrong output", monotonic() - t0)
            if verdict == "pass":
                tally.passed(i)
            if i + 1 < n:
                send_frame(frames[i + 1], end)
            sent = monotonic()
        tally.success = True
        return tally.result(None, "", time.monotonic() - t0)
    except Timeout:
        now = time.monotonic()
        if i >= 0 and now < end - 1e-3:  # a test's own limit, not the phase's
            tally.failed(i)
            return tally.result("timeout", f"test {i}: killed at {now - sent:.2f} s, limit {limits[i]:.2f} s",
                                now - t0)
        return tally.result("timeout", f"killed at {now - t0:.1f} s, phase limit {budget:.1f} s", now - t0)
    except TooBig as e:
        if i < 0:
            return tally.result("fail", "sent something that is not an answer", time.monotonic() - t0)
        tally.failed(i)
        return tally.result("fail", f"test {i}: an output of {e.args[0] >> 20} MB, more than allowed",
                            time.monotonic() - t0)
    except Dead:
        return tally.result(*cand.death(), time.monotonic() - t0)
    except RuntimeError as e:  # no candidate process could be started
        return tally.result("error", str(e), time.monotonic() - t0)
    finally:
        if cand is not None:
            cand.close()


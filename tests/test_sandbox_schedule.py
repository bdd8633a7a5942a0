"""Cutting work into jobs (ground-truth ranges, batches of samples), how the judge tallies a phase
as evalplus does, the ground-truth cache's data-only unpickler and keys."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from nfbench.harness.types import Problem
from nfbench.harness.types import TestSpec as Spec
from nfbench.sandbox.expected import SafeUnpickler, problem_key, safe_loads
from nfbench.sandbox.schedule import GroundTruth, batches, split


def test_split_covers_the_range_without_overlap():
    assert split(3, 10, 3) == [(3, 5), (5, 7), (7, 10)]
    assert split(0, 2, 5) == [(0, 1), (1, 2)]
    assert split(4, 5, 1) == [(4, 5)]


def test_batches_hold_about_a_second_of_tests_and_keep_sample_order():
    samples = [(i, f"code{i}") for i in range(40)]
    assert batches(samples, 0.001) == [samples[:16], samples[16:32], samples[32:]]  # at most 16
    assert batches(samples[:5], 0.3) == [samples[:3], samples[3:5]]  # ~1 s each
    assert batches(samples[:3], 20.0) == [[s] for s in samples[:3]]  # a slow problem: one sample each
    assert batches([], 1.0) == []
    assert sum(batches(samples, 0.05), []) == samples


def _tally():
    sys.path.insert(0, str(Path(__file__).parents[1] / "sandbox" / "container"))
    from judge_run import Tally

    return Tally


def test_tally_reports_first_failing_test_and_status_as_evalplus():
    Tally = _tally()
    t = Tally(3)
    t.passed(0), t.passed(1), t.passed(2)
    t.success = True
    assert t.result(None, "", 0.5) == {"status": "pass", "fail_test": None, "detail": "", "seconds": 0.5}
    t = Tally(3)
    t.passed(0), t.failed(1)
    assert t.result("fail", "test 1: wrong output", 0.1)["fail_test"] == 1
    t = Tally(3)  # died before reporting anything: evalplus's min(progress, n - 1)
    assert t.result("error", "the process ended", 0.1)["fail_test"] == 0
    t = Tally(4)  # HumanEval/32: the oracle `continue`s before counting, so nothing is counted
    t.success = True
    r = t.result(None, "", 0.1)
    assert r["status"] == "fail" and r["fail_test"] == 0 and "counted" in r["detail"]
    t = Tally(2)
    t.self_checked = True
    t.passed(0), t.passed(1)
    t.success = True
    assert t.result(None, "", 0.0)["self_checked"] is True


def test_ground_truth_fills_in_out_of_order():
    gt = GroundTruth({"base": 2, "plus": 5})
    assert gt.add("plus", 3, [0.1, 0.2], b"de") == 5
    assert gt.add("base", 0, [0.0, 0.0], b"ab") == 2
    assert not gt.complete()
    assert gt.add("plus", 0, [0.0] * 3, b"abc") == 3
    assert gt.complete()
    assert sorted(gt.expected()["blobs"]["plus"]) == [(0, b"abc"), (3, b"de")]
    assert gt.expected()["plus_time"][3:] == [0.1, 0.2]
    with pytest.raises(ValueError):
        gt.add("base", 1, [0.0, 0.0], b"")  # past the end: a confused or hostile worker


def test_one_ground_truth_job_for_both_phases_asks_again_for_what_it_did_not_reach():
    gt = GroundTruth({"base": 2, "plus": 5})
    # base done, plus stopped after 2 inputs (budget): the rest of plus is asked for again
    reply = {"times": {"base": [0.0, 0.1], "plus": [0.3, 0.4]}, "gt_sizes": [2, 3], "gt_bytes": b"abPLU"}
    assert gt.add_reply("all", 0, 0, reply) == [("plus", 2, 5)]
    assert gt.expected()["blobs"] == {"base": [(0, b"ab")], "plus": [(0, b"PLU")]}
    assert gt.add_reply("plus", 2, 5, {"times": {"plus": [0.0] * 3}, "gt_sizes": [1], "gt_bytes": b"x"}) == []
    assert gt.complete() and gt.expected()["plus_time"] == [0.3, 0.4, 0.0, 0.0, 0.0]
    # stopped inside base: plus was never started, both remainders come back
    gt = GroundTruth({"base": 3, "plus": 4})
    assert gt.add_reply("all", 0, 0, {"times": {"base": [2.5]}, "gt_sizes": [1], "gt_bytes": b"a"}) == \
        [("base", 1, 3), ("plus", 0, 4)]
    for bad in ({"times": {"base": [0.0]}, "gt_sizes": [5], "gt_bytes": b"a"},  # sizes do not add up
                {"times": [0.0], "gt_sizes": [1], "gt_bytes": b"a"},
                {"times": {"base": [0.0] * 9}, "gt_sizes": [1], "gt_bytes": b"a"}):  # past the end
        with pytest.raises(ValueError):
            GroundTruth({"base": 3, "plus": 4}).add_reply("all", 0, 0, bad)


def test_safe_unpickler_loads_data_and_refuses_code():
    from collections import Counter

    data = {"base": [(1, 2.5), {3, 4}, frozenset({"x"}), 1 + 2j, Counter("aab"), None, b"\x00"]}
    assert safe_loads(pickle.dumps(data)) == data

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with pytest.raises(pickle.UnpicklingError):
        safe_loads(pickle.dumps(Evil()))
    assert issubclass(SafeUnpickler, pickle.Unpickler)


KEY_OF = """
import sys
from nfbench.harness.types import Problem, TestSpec
from nfbench.sandbox.expected import problem_key
inputs = [[{"b", "a", "c"}, {"k": frozenset({"x", "y"})}], [(1, 2), [3.5, "s"]]]
print(problem_key(Problem("t/1", "", "f", "def f(*a): pass", TestSpec(kind="evalplus", base_inputs=inputs))))
"""


def test_problem_key_is_the_same_in_every_process_and_sees_types():
    keys = {subprocess.run([sys.executable, "-c", KEY_OF], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")}
    assert len(keys) == 1  # set order differs between these processes; the key does not

    def key(inputs):
        return problem_key(Problem("t/1", "", "f", "def f(*a): pass", Spec(kind="evalplus", base_inputs=inputs)))

    assert key([[(1, 2)]]) != key([[[1, 2]]]) and key([[1]]) != key([[1.0]]) and key([[{1}]]) != key([[frozenset({1})]])

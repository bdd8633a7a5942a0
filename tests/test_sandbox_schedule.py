"""Cutting slow phases into chunks and merging chunk results back into one evalplus verdict; the
ground-truth cache's data-only unpickler and keys."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys

import pytest

from nfbench.harness.types import Problem
from nfbench.harness.types import TestSpec as Spec
from nfbench.sandbox.expected import SafeUnpickler, problem_key, safe_loads
from nfbench.sandbox.schedule import GroundTruth, Pending, chunks, split


def test_split_covers_the_range_without_overlap():
    assert split(3, 10, 3) == [(3, 5), (5, 7), (7, 10)]
    assert split(0, 2, 5) == [(0, 1), (1, 2)]
    assert split(4, 5, 1) == [(4, 5)]


def test_chunks_follow_ground_truth_time():
    assert chunks([0.01] * 50) == [(0, 50)]  # the usual case: one job per phase
    assert chunks([1.5, 1.5, 0.1, 3.0, 0.2]) == [(0, 1), (1, 3), (3, 4), (4, 5)]
    assert chunks([]) == [(0, 0)]


def _r(status, fail=None, seconds=1.0, detail=""):
    return {"status": status, "fail_test": fail, "seconds": seconds, "detail": detail}


def test_merge_takes_the_first_failing_chunk_in_test_order():
    p = Pending({"base": 1, "plus": 3}, {"base": 10.0, "plus": 10.0})
    assert not p.add("plus", 20, _r("timeout", 0))  # arrives first, but comes later in test order
    assert not p.add("plus", 0, _r("pass"))
    assert not p.add("plus", 10, _r("fail", 4))
    assert p.add("base", 0, _r("pass"))
    assert p.phase("plus")["status"] == "fail" and p.phase("plus")["fail_test"] == 14
    assert p.phase("base")["status"] == "pass"


def test_merge_applies_evalplus_phase_timeout_to_the_chunks_sum():
    p = Pending({"base": 2}, {"base": 5.0})
    p.add("base", 0, _r("pass", seconds=3.0))
    p.add("base", 7, _r("pass", seconds=3.0))
    assert p.phase("base")["status"] == "timeout"
    assert p.phase("plus") is None


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


def test_a_worker_restarts_once_its_wasted_memory_costs_more_than_a_restart(monkeypatch):
    """worker.Memory: memory grown during a job belongs to its payload until that is evicted; what
    remains is waste, worth a restart when the checks still to come would pay more for it in forks."""
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).parents[1] / "sandbox"))
    import worker

    def job(key, forks_left, evict=(), restart_mb=64):
        return {"op": "check", "key": key, "evict": list(evict),
                "opts": {"restart_mb": restart_mb, "forks_left": forks_left}}

    mem = worker.Memory()
    mem.base = 40
    assert not mem.account(job("a", 1000), 40, 140)  # 100 MB held by payload "a": not waste
    assert not mem.account(job("b", 1000, evict=["a"]), 140, 40)  # "a" evicted and its memory returned
    assert not mem.account(job("c", 1000, evict=["b"]), 40, 70)  # "c" holds 30 MB
    assert not mem.account(job("d", 10, evict=["c"]), 70, 70)  # ... kept after its eviction: 10 checks left
    assert mem.account(job("d", 1000), 70, 70)  # the same waste with 1000 checks left
    assert mem.account(job("e", 0, evict=["d"], restart_mb=20), 70, 70)  # past restart_mb: always
    assert mem.account(job("f", 0, restart_mb=-1), 40, 40)  # -1: after every job (the tests' setting)

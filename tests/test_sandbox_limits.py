"""Reference-timed per-assert limits for assert problems (original HumanEval/MBPP, synth), real Docker:
a reference slower than the fixed limit passes, an infinite loop still times out, and a reference
that fails or is missing falls back to the fixed limit."""
from __future__ import annotations

import pickle

import pytest

from nfbench.harness.types import Problem
from nfbench.harness.types import TestSpec as Spec
from nfbench.sandbox import image as sbimage
from nfbench.sandbox.executor import Sandbox
from nfbench.sandbox.expected import problem_key
from nfbench.sandbox.schedule import assert_limits

FIXED = 1.0
# busy-waits ~2 s of wall time: twice the fixed per-assert limit, whatever the machine's load
SLOW = "import time\ndef f(x):\n    t = time.perf_counter()\n    while time.perf_counter() - t < 2.0:\n        pass\n    return x\n"
LOOP = "def f(x):\n    while True:\n        pass\n"


def _problem(task_id: str, reference: str) -> Problem:
    return Problem(task_id, "", "f", reference,
                   Spec(kind="asserts", asserts=["assert f(1) == 1"], plus_asserts=["assert f(3) == 3"]))


def test_limits_scale_with_the_reference_and_fall_back_to_the_fixed_limit():
    got = assert_limits({"load": 0.5, "tests": [2.0, 0.01]}, 3, fixed=1.0, factor=4.0)
    assert got == {"load": 2.0, "tests": [8.0, 1.0, 1.0]}  # the third assert: the reference failed there
    assert assert_limits(None, 2, 3.0, 4.0) == {"load": 3.0, "tests": [3.0, 3.0]}
    bad = {"load": "x", "tests": [float("nan"), -1.0, float("inf")]}
    assert assert_limits(bad, 3, 3.0, 4.0) == {"load": 3.0, "tests": [3.0, 3.0, 3.0]}


@pytest.mark.docker
def test_slow_reference_passes_and_infinite_loop_times_out(tmp_path, monkeypatch):
    sbimage.build_image()  # a no-op when the image for the current sources exists
    monkeypatch.setenv("NFBENCH_CACHE_DIR", str(tmp_path))
    slow, broken, missing = _problem("t/slow", SLOW), _problem("t/broken", "raise RuntimeError('bad reference')"), \
        _problem("t/missing", "")
    jobs = [(slow, 0, SLOW), (slow, 1, LOOP), (slow, 2, "def f(x):\n    return -x\n"),
            (broken, 0, SLOW), (broken, 1, "def f(x):\n    return x\n"), (missing, 0, SLOW)]
    with Sandbox(workers=2, assert_time_limit=FIXED) as sb:
        got = {(v.task_id, v.sample_idx): v for v in sb.execute(jobs)}
    assert (got["t/slow", 0].base_status, got["t/slow", 0].plus_status) == ("pass", "pass")
    loop = got["t/slow", 1]
    assert (loop.base_status, loop.plus_status) == ("timeout", "timeout")
    assert 7.0 < loop.seconds < 2 * 12.0, loop  # base + plus, each killed at ~4 x 2 s
    assert got["t/slow", 2].base_status == "fail"
    # no usable reference time: the fixed 1 s limit, so the 2 s solution times out; a fast one passes
    assert got["t/broken", 0].base_status == got["t/missing", 0].base_status == "timeout"
    assert got["t/broken", 1].base_status == "pass"
    cached = sorted(p.name for p in tmp_path.glob("expected/*.pkl"))
    assert cached == [f"{problem_key(slow)}.pkl"]  # a failing reference is not cached

    # the cached reference times are what the next run uses: made 0 s, the slow solution times out
    path = tmp_path / "expected" / cached[0]
    ref = pickle.loads(path.read_bytes())
    assert 1.9 < ref["base"]["tests"][0] < 6.0, ref
    path.write_bytes(pickle.dumps({p: {**r, "tests": [0.0]} for p, r in ref.items()}))
    with Sandbox(workers=1, assert_time_limit=FIXED) as sb:
        again = list(sb.execute([(slow, 0, SLOW)]))
    assert again[0].base_status == "timeout"

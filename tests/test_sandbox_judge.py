"""The judge/candidate split on real Docker: what a program sees (all of a phase's inputs, in order,
in one process; never an expected output), what its outputs may be (plain data, named when not),
how time is taken (from outside, per test, with a detail that says so), and that the plain-data
types evalplus's `==` relies on compare as evalplus compares them."""
from __future__ import annotations

import textwrap

import pytest

from nfbench.harness.types import Problem
from nfbench.harness.types import TestSpec as Spec
from nfbench.sandbox.executor import Sandbox

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module", autouse=True)
def image():
    from nfbench.sandbox.image import build_image

    return build_image()


def _run(jobs, **limits):
    with Sandbox(workers=2, **limits) as sb:
        return {(v.task_id, v.sample_idx): v for v in sb.execute(jobs)}


def test_a_phase_runs_in_one_process_in_order_and_phases_apart(tmp_path, monkeypatch):
    """A program with hidden state is right only if it sees every input of a phase, in order, in one
    process, and a fresh process for the plus phase: what evalplus's grouping gives it. The reference
    is slow enough (~3 s per phase) that a checker splitting slow phases would split these."""
    monkeypatch.setenv("NFBENCH_CACHE_DIR", str(tmp_path))
    slow = "import time\ndef f(i):\n    t = time.perf_counter()\n    while time.perf_counter() - t < 0.01:\n        pass\n    return i\n"
    p = Problem("t/order", "", "f", slow, Spec(kind="evalplus", base_inputs=[[i] for i in range(300)],
                                                plus_inputs=[[i] for i in range(300)]))
    # right iff the inputs come 0, 1, 2, ... to one process, which starts afresh for the plus phase
    counting = "SEEN = []\ndef f(i):\n    SEEN.append(i)\n    return len(SEEN) - 1\n"
    got = _run([(p, 0, slow), (p, 1, counting)])
    assert (got["t/order", 0].base_status, got["t/order", 0].plus_status) == ("pass", "pass")
    assert (got["t/order", 1].base_status, got["t/order", 1].plus_status) == ("pass", "pass"), got["t/order", 1]


def test_outputs_are_plain_data_compared_as_evalplus_compares_them():
    canonical = "from collections import Counter\ndef f(s):\n    return Counter(s)\n"
    p = Problem("t/counter", "", "f", canonical, Spec(kind="evalplus", base_inputs=[["aab"], ["b"]]))
    samples = {
        0: canonical,
        1: "def f(s):\n    return {c: s.count(c) for c in sorted(set(s), reverse=True)}\n",  # a dict == a Counter
        2: "import numpy as np\nfrom collections import Counter\ndef f(s):\n    return Counter({k: np.int64(v) for k, v in Counter(s).items()})\n",
        3: "class D(dict):\n    def __eq__(self, o): return True\ndef f(s):\n    return D()\n",
        4: "import numpy as np\ndef f(s):\n    return np.array([1, 2])\n",
        5: "def f(s):\n    return lambda: s\n",
    }
    floats = Problem("t/floats", "", "f", "def f(x):\n    return [x / 3, 0.1 + 0.2]\n",
                     Spec(kind="evalplus", base_inputs=[[1.0], [2.0]], atol=0.0, dataset="humaneval"))
    close = {0: floats.canonical_solution, 1: "def f(x):\n    return [x / 3 + 1e-9, 0.3]\n",  # within atol=1e-6
             2: "def f(x):\n    return (x / 3, 0.1 + 0.2)\n", 3: "def f(x):\n    return [x / 3 + 1e-3, 0.3]\n"}
    got = _run([(p, i, c) for i, c in samples.items()] + [(floats, i, c) for i, c in close.items()])
    assert [got["t/counter", i].base_status for i in range(6)] == ["pass", "pass", "pass", "fail", "fail", "fail"]
    assert "returned a D where plain data is required" in got["t/counter", 3].detail
    assert "returned a numpy.ndarray where plain data is required" in got["t/counter", 4].detail
    assert "returned a function where plain data is required" in got["t/counter", 5].detail
    # evalplus: floats within atol pass; a tuple where a list is expected does not (type check)
    assert [got["t/floats", i].base_status for i in range(4)] == ["pass", "pass", "fail", "fail"]


def test_time_is_taken_from_outside_and_a_process_group_is_killed_whole():
    p = Problem("t/time", "", "f", "def f(x):\n    return x\n", Spec(kind="evalplus", base_inputs=[[1], [2], [3]]))
    child_lives = textwrap.dedent("""
        import posix, signal, time
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        signal.setitimer = lambda *a, **k: (0.0, 0.0)
        def f(x):
            if x == 2:
                if posix.fork() == 0:
                    posix.setsid()  # out of the candidate's process group: the sweep must find it
                    while True:
                        time.sleep(0.1)
                time.sleep(30)
            return x
        """)
    probe = textwrap.dedent("""
        import os
        def running(p):
            try:
                state = open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()[0]
                return state not in "ZX" and b"zygote.py" not in open("/proc/%s/cmdline" % p, "rb").read()
            except OSError:
                return False
        OTHERS = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid(), os.getppid())
                  and running(p)]
        def f(x):
            return x if not OTHERS else -1
        """)
    with Sandbox(workers=1) as sb:
        got = {(v.sample_idx): v for v in sb.execute([(p, 0, child_lives), (p, 1, probe)])}
    v = got[0]
    assert v.base_status == "timeout" and v.base_fail_test == 1, v
    assert "test 1: killed at 1." in v.detail and "limit 1.00 s" in v.detail, v
    assert got[1].base_status == "pass", got[1]  # the forked child did not outlive the check

"""Several Docker engines in one sandbox, with a second real dockerd on this machine (its own
socket, data root, exec root, pidfile and bridge: tests/second_engine.py), started and stopped here.

An engine that dies mid-run loses nothing: its in-flight jobs go to the other engine, or, alone,
the run waits for it (bounded) and then stops with one line.
"""
from __future__ import annotations

import dataclasses
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from nfbench.harness.errors import UserError
from nfbench.harness.types import Problem
from nfbench.harness.types import TestSpec as Spec
from nfbench.sandbox import engines as eng
from nfbench.sandbox.executor import Sandbox
from nfbench.sandbox.image import build_image, image_tag

from second_engine import SecondEngine

pytestmark = pytest.mark.docker

SQUARE = Problem("engines/square", "", "f", "def f(x):\n    return x * x\n",
                 Spec(kind="asserts", asserts=["assert f(2) == 4", "assert f(3) == 9"]))
LIMITS = dict(memory_mb=512, child_memory_mb=256, pids=64, assert_time_limit=5.0, tmpfs_mb=32)
WRONG = "def f(x):\n    return x + 1\n"


def slow(seconds: float) -> str:
    return f"import time\ntime.sleep({seconds})\n" + SQUARE.canonical_solution


@pytest.fixture(scope="module")
def engine2():
    import os

    if os.geteuid() != 0:
        pytest.skip("a second dockerd needs root")
    build_image()
    with SecondEngine(Path("/tmp/nfbench-engine2-tests"), bridge="nfb-br-test", subnet="10.213.8.1/24") as e:
        yield e
    assert not e.proc or e.proc.poll() is not None


def _jobs(n: int, code=lambda i: SQUARE.canonical_solution if i % 3 else WRONG):
    """n samples over problems of 2 samples each (one batch per problem, so that jobs spread)."""
    problems = [dataclasses.replace(SQUARE, task_id=f"engines/square{k}") for k in range((n + 1) // 2)]
    return [(problems[i // 2], i, code(i)) for i in range(n)]


def _kill_when_busy(sb: Sandbox, slot: int, kill, timeout: float = 60) -> None:
    """Call kill() once the worker of `slot` is in the middle of a job."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        w = sb._pool[slot] if len(sb._pool) > slot else None
        if w is not None and w.busy:
            time.sleep(0.5)
            break
        time.sleep(0.05)
    kill()


def _check_exactly_once(verdicts, n, expect=lambda i: "pass" if i % 3 else "fail"):
    seen = Counter(v.sample_idx for v in verdicts)
    assert sorted(seen) == list(range(n)) and set(seen.values()) == {1}, seen
    wrong = {v.sample_idx: (v.base_status, v.detail) for v in verdicts if v.base_status != expect(v.sample_idx)}
    assert not wrong, wrong


def test_parse_and_refusal_name_what_is_wrong():
    a, b = eng.parse("default,tcp://gpu1:2376#8:0-3")
    assert (a.url, a.workers, b.url, b.workers, b.cpus) == (None, None, "tcp://gpu1:2376", 8, [0, 1, 2, 3])
    assert b.argv("ps") == ["docker", "-H", "tcp://gpu1:2376", "ps"]
    assert eng.parse("remote1")[0].argv("ps") == ["docker", "--context", "remote1", "ps"]
    for bad in ("x#0", "x#two", "x#2:a-b", "x,x"):
        with pytest.raises(UserError):
            eng.parse(bad)
    ok = {k: True for k in eng.NEEDED} | {"OSType": "linux"}
    assert eng.refusal(ok) is None
    assert "--memory-swap" in eng.refusal({**ok, "SwapLimit": False})
    assert "--pids-limit" in eng.refusal({**ok, "PidsLimit": False})
    assert "windows" in eng.refusal({**ok, "OSType": "windows"})


def test_an_engine_that_does_not_answer_is_refused_before_any_work(engine2):
    with pytest.raises(UserError, match="does not answer"):
        Sandbox(engines=f"default,unix:///tmp/nfbench-no-such-engine.sock", **LIMITS).start()


def test_two_engines_share_the_work_and_the_image_is_sent_to_the_one_lacking_it(engine2):
    tag = image_tag()
    engine2.docker("rmi", "-f", tag)
    assert not engine2.docker("image", "inspect", tag).returncode == 0
    n = 40
    with Sandbox(engines=f"default#1:0,{engine2.url}#1:1", **LIMITS) as sb:
        got = list(sb.execute(_jobs(n)))
        per_engine = {e.label: e.jobs for e, _ in sb._slots}
    assert engine2.docker("image", "inspect", tag).returncode == 0  # sent with docker save | load
    _check_exactly_once(got, n)
    assert all(per_engine.values()), per_engine  # both engines ran checks
    assert not engine2.containers()  # nothing left on the second engine


def test_an_engine_killed_mid_run_hands_its_jobs_to_the_other(engine2):
    n = 24
    with Sandbox(engines=f"default#1:0,{engine2.url}#1:1", **LIMITS) as sb:
        sb.start()
        killer = threading.Thread(target=_kill_when_busy, args=(sb, 1, engine2.kill))
        killer.start()
        got = list(sb.execute(_jobs(n, lambda i: slow(1.0) if i % 3 else WRONG)))
        killer.join()
        lost = {e.label: e.lost_jobs for e, _ in sb._slots}
        done = {e.label: e.jobs for e, _ in sb._slots}
    assert lost == {"default": 0, engine2.url: 1}, lost  # it died with a job in flight
    assert done["default"] > done[engine2.url], done  # ... which the other engine finished
    _check_exactly_once(got, n)  # none lost, none duplicated, none blamed for the engine's death
    engine2.start()
    assert not engine2.containers()  # the restarted daemon reaped its containers


def test_a_lone_engine_that_restarts_is_waited_for(engine2):
    n = 12
    with Sandbox(engines=f"{engine2.url}#2", **LIMITS) as sb:
        sb.start()

        def restart():
            engine2.kill()
            time.sleep(3)
            engine2.start()

        t = threading.Thread(target=_kill_when_busy, args=(sb, 0, restart))
        t.start()
        got = list(sb.execute(_jobs(n, lambda i: slow(0.8) if i % 3 else WRONG)))
        t.join()
        assert sum(e.lost_jobs for e, _ in sb._slots) >= 1  # it went away with jobs in flight
    _check_exactly_once(got, n)


def test_a_lone_engine_gone_for_good_stops_the_run_with_one_line(engine2):
    with Sandbox(engines=f"{engine2.url}#1", engine_wait=4.0, **LIMITS) as sb:
        sb.start()
        threading.Timer(2.0, engine2.kill).start()
        got = []
        with pytest.raises(UserError, match="no sandbox engine has answered") as err:
            for v in sb.execute(_jobs(8, lambda i: slow(0.8))):
                got.append(v)
    assert "re-run the same command" in err.value.fix
    assert all(v.base_status == "pass" for v in got)  # what finished before is kept, none blamed
    engine2.start()


def test_eval_on_two_engines_merges_verdicts_in_input_order(engine2, nfbench_cmd, tmp_path, results_dir):
    import json

    from nfbench.harness.jsonl import read

    samples = tmp_path / "s.jsonl"
    rows = [{"task_id": f"synth/test/{p}", "solution": "def f(x):\n    return None\n" if s == 1 else None}
            for p in range(6) for s in range(3)]
    from nfbench.harness.registry import get_task

    truth = {p.task_id: p.canonical_solution for p in get_task("synth")(None).problems("test")[:6]}
    for r in rows:
        r["solution"] = r["solution"] or truth[r["task_id"]]
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    proc = subprocess.run([*nfbench_cmd, "eval", "--task", "synth", "--samples", str(samples), "--out", str(out),
                           "--sandbox-engines", f"default#1:0,{engine2.url}#1:1"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    verdicts = read(out / "executions.jsonl")
    gens = read(out / "generations.jsonl")
    assert [(v["task_id"], v["sample_idx"]) for v in verdicts] == [(g["task_id"], g["sample_idx"]) for g in gens]
    assert [v["base_status"] for v in verdicts] == ["pass", "fail", "pass"] * 6


def test_a_bad_engine_list_is_one_line_and_exit_2(nfbench_cmd, tmp_path, results_dir):
    samples = tmp_path / "s.jsonl"
    samples.write_text('{"task_id": "synth/test/0", "solution": "def f(x): return x"}\n')
    for engines, says in (("unix:///tmp/nfbench-no-such-engine.sock", "does not answer"),
                          ("default#0", "bad sandbox engine")):
        proc = subprocess.run([*nfbench_cmd, "eval", "--task", "synth", "--samples", str(samples),
                               "--out", str(tmp_path / "run"), "--sandbox-engines", engines],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2 and says in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-1500:]
        assert len([line for line in proc.stderr.splitlines() if line.startswith("error:")]) == 1
        assert not (tmp_path / "run" / "executions.jsonl").exists()  # refused before any work

"""Faults of long jobs, on a real Docker engine and real `nfbench eval` processes: the harness
SIGKILLed while it executes, and the results disk filling up. Either way nothing recorded is lost,
redone or duplicated, no torn record is counted, and re-running the same command finishes the run.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from nfbench.harness import jsonl
from nfbench.harness.registry import get_task

pytestmark = pytest.mark.docker

NFBENCH = str(Path(sys.executable).parent / "nfbench")
N_PROBLEMS, N_SAMPLES = 8, 4


def _samples(path: Path, sleep: float) -> list[tuple[str, int]]:
    """Synth samples: correct ones that sleep a little (so the run lasts), and wrong ones."""
    problems = get_task("synth")(None).problems("test")[:N_PROBLEMS]
    rows = []
    for p in problems:
        for s in range(N_SAMPLES):
            code = f"import time\ntime.sleep({sleep})\n" + p.canonical_solution if s % 2 == 0 else "def f(x):\n    return None\n"
            rows.append({"task_id": p.task_id, "solution": code})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return [(p.task_id, s) for p in problems for s in range(N_SAMPLES)]


def _eval(samples: Path, out: Path, **kw) -> list[str]:
    return [NFBENCH, "eval", "--task", "synth", "--samples", str(samples), "--out", str(out), "--workers", "2"]


def _wait_for(path: Path, n: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if path.exists() and path.read_bytes().count(b"\n") >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"{path} never reached {n} records: {proc.stderr.read()[-800:] if proc.stderr else ''}")


def _exactly_once(out: Path, expected: list[tuple[str, int]]) -> list[dict]:
    recs = jsonl.read(out / "executions.jsonl")
    got = Counter((r["task_id"], r["sample_idx"]) for r in recs)
    assert set(got) == set(expected) and set(got.values()) == {1}, got
    for r in recs:
        assert r["base_status"] == ("pass" if r["sample_idx"] % 2 == 0 else "fail"), r
    return recs


def _containers_of(pid: int) -> list[str]:
    res = subprocess.run(["docker", "ps", "-aq", "--filter", "label=nfbench.sandbox"], capture_output=True, text=True)
    ids = res.stdout.split()
    if not ids:
        return []
    owners = subprocess.run(["docker", "inspect", "-f", '{{index .Config.Labels "nfbench.owner"}}', *ids],
                            capture_output=True, text=True).stdout.split()
    return [o for o in owners if o.split(":")[1:2] == [str(pid)]]


def test_harness_killed_mid_execution_resumes_without_redoing_or_losing(tmp_path, results_dir):
    samples, out = tmp_path / "s.jsonl", tmp_path / "run"
    expected = _samples(samples, 0.4)
    proc = subprocess.Popen(_eval(samples, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    execs = out / "executions.jsonl"
    _wait_for(execs, 5, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = jsonl.read(execs)
    assert 5 <= len(before) < len(expected)
    with open(execs, "a") as f:
        f.write('{"task_id": "synth/test/7", "sample_idx": 3, "base_st')  # torn by the kill

    deadline = time.time() + 20  # its containers die with it (their stdin closed)
    while _containers_of(proc.pid) and time.time() < deadline:
        time.sleep(0.5)
    assert not _containers_of(proc.pid)

    done = subprocess.run(_eval(samples, out), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "torn last line" in done.stderr
    redone = re.search(r"executing (\d+) samples", done.stderr)
    assert redone and int(redone.group(1)) == len(expected) - len(before), done.stderr[-1500:]
    recs = _exactly_once(out, expected)
    assert all(r in recs for r in before)  # the verdicts recorded before the kill are kept as they were


@pytest.fixture
def small_disk(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "nfbench-test-disk", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"x" * 4096)
        except OSError:
            pass
    return filler


def test_a_full_results_disk_stops_the_run_with_one_line_and_it_resumes(tmp_path, small_disk, results_dir):
    samples, out = tmp_path / "s.jsonl", small_disk / "run"
    expected = _samples(samples, 0.3)
    proc = subprocess.Popen(_eval(samples, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    execs = out / "executions.jsonl"
    _wait_for(execs, 3, proc)
    filler = _fill(small_disk)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, err[-2000:]
    assert "no space left" in err and "Traceback" not in err, err[-2000:]
    error_lines = [line for line in err.splitlines() if "no space left" in line]
    assert len(error_lines) == 1, err[-2000:]
    raw = execs.read_bytes()
    assert raw.endswith(b"\n")  # the write that did not fit was cut back off: no torn record
    kept = jsonl.read(execs, repair=False)
    assert 3 <= len(kept) < len(expected)
    assert not (out / "summary.json.tmp").exists()

    filler.unlink()  # space is back
    done = subprocess.run(_eval(samples, out), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "torn" not in done.stderr
    recs = _exactly_once(out, expected)
    assert all(r in recs for r in kept)
    assert json.loads((out / "summary.json").read_text())["n_samples_per_problem"] == N_SAMPLES

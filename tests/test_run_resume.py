"""A run killed mid-way resumes: no duplicate and no missing (task_id, sample_idx) pairs.

Real parts: a tiny-llama `direct` checkpoint trained for a few steps, real generation, the Docker
sandbox. The process is SIGKILLed while it is writing generations, and a torn line is added as
a crash mid-write would leave it.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow]

N_PROBLEMS, N_SAMPLES = 12, 2
NFBENCH = str(Path(sys.executable).parent / "nfbench")  # the venv's script, even if not on PATH


def pairs(path: Path) -> list[tuple[str, int]]:
    return [(r["task_id"], r["sample_idx"]) for r in map(json.loads, path.read_text().splitlines())]


@pytest.fixture(scope="module")
def trained_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("results")
    env = {**os.environ, "NFBENCH_RESULTS": str(root)}
    subprocess.run([NFBENCH, "train", "direct", "--task", "synth", "--backbone", "tiny-llama", "--name", "t",
                    "--set", "trainer.max_steps=3", "--set", "trainer.batch_size=8",
                    "--set", "task_options={steps: 2, n_train: 64, n_val: 8, n_test: 16}"],
                   env=env, check=True, capture_output=True, timeout=600)
    return root


def test_killed_run_resumes_without_duplicates(trained_results: Path, tmp_path: Path):
    env = {**os.environ, "NFBENCH_RESULTS": str(trained_results)}
    out = tmp_path / "run"
    cmd = [NFBENCH, "run", "--method", "direct", "--backbone", "tiny-llama", "--task", "synth",
           "--limit", str(N_PROBLEMS), "-n", str(N_SAMPLES), "--temperature", "0.8", "--out", str(out),
           "--set", "batch_size=2", "--set", "max_new_tokens=40",
           "--set", "task_options={steps: 2, n_train: 64, n_val: 8, n_test: 16}"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    gens = out / "generations.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if gens.exists() and len(gens.read_text().splitlines()) >= 4:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed: " + proc.stderr.read().decode()[-500:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = pairs(gens)
    assert 0 < len(written) < N_PROBLEMS * N_SAMPLES
    with open(gens, "a") as f:
        f.write('{"task_id": "synth/test/11", "sample_idx": 1, "pro')  # torn write

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "torn last line" in done.stderr
    expected = {(f"synth/test/{i}", s) for i in range(N_PROBLEMS) for s in range(N_SAMPLES)}
    for name in ("generations.jsonl", "executions.jsonl"):
        got = pairs(out / name)
        assert len(got) == len(set(got)), f"duplicates in {name}"
        assert set(got) == expected, f"missing or extra pairs in {name}"
    assert pairs(gens)[: len(written)] == written  # what was written before the crash is kept

    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and len(pairs(gens)) == len(expected)  # nothing redone


def test_two_ranks_share_one_store_and_force_moves_it_aside_once(trained_results: Path, tmp_path: Path):
    out = tmp_path / "run"
    cmd = [NFBENCH, "run", "--method", "direct", "--backbone", "tiny-llama", "--task", "synth",
           "--limit", "6", "--out", str(out), "--force", "--set", "max_new_tokens=20",
           "--set", "task_options={steps: 2, n_train: 64, n_val: 8, n_test: 16}"]
    out.mkdir()
    (out / "generations.jsonl").write_text('{"task_id": "old", "sample_idx": 0}\n')
    env = {**os.environ, "NFBENCH_RESULTS": str(trained_results), "WORLD_SIZE": "2"}
    ranks = [subprocess.Popen(cmd, env={**env, "RANK": str(r)}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for r in (1, 0)]  # rank 1 first: it must wait
    for proc in ranks:
        assert proc.wait(timeout=600) == 0, proc.stderr.read()[-2000:]
    expected = {(f"synth/test/{i}", 0) for i in range(6)}
    for name in ("generations.jsonl", "executions.jsonl"):
        got = pairs(out / name)
        assert len(got) == len(set(got)) and set(got) == expected, name
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("run.old-")]
    assert len(aside) == 1 and pairs(aside[0] / "generations.jsonl") == [("old", 0)]


def test_manifest_records_what_reproduces_the_run(trained_results: Path, tmp_path: Path):
    env = {**os.environ, "NFBENCH_RESULTS": str(trained_results)}
    out = tmp_path / "run"
    subprocess.run([NFBENCH, "run", "--method", "direct", "--backbone", "tiny-llama", "--task", "synth",
                    "--limit", "2", "--seed", "7", "--out", str(out), "--set", "max_new_tokens=30",
                    "--set", "task_options={steps: 2, n_train: 64, n_val: 8, n_test: 16}"],
                   env=env, check=True, capture_output=True, timeout=600)
    m = json.loads((out / "manifest.json").read_text())
    assert m["config"]["method"] == "direct" and m["config"]["seed"] == 7 and m["seeds"]["seed"] == 7
    assert m["config"]["method_config"] is not None
    assert len(m["git"]["commit"] or "") == 40
    assert m["packages"]["torch"] and m["packages"]["transformers"] and m["packages"]["nfbench"]
    assert m["dataset"]["name"] == "synth" and len(m["dataset"]["sha256"]) == 64
    assert m["dataset"]["n_problems"] == 2
    assert len(m["model"]["weights_sha256"]) == 64 and m["model"]["checkpoint"]
    assert m["sandbox"]["kind"] == "docker" and m["sandbox"]["image_id"].startswith("sha256:")
    assert m["hardware"]["cpu_count"] >= 1
    # trained weights depend on the CPU's kernels (AVX2 vs AVX-512 rounding): both are recorded
    assert m["hardware"]["torch_cpu_capability"]  # e.g. AVX2, AVX512, SVE256
    if "model name" in Path("/proc/cpuinfo").read_text():  # x86 Linux; ARM's cpuinfo has no name
        assert "family" in m["hardware"]["cpu_model"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "direct" and summary["n_problems"] == 2
    assert "1" in summary["pass_at_k"]["base"] and summary["cost"]["prompt_tokens"]["mean"] > 0

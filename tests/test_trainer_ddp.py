"""2-process CPU data parallelism (gloo) follows the same loss curve as 1 process at the same global batch."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from nfbench.harness.trainer import read_metrics

SCRIPT = Path(__file__).with_name("ddp_toy_train.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(out: Path, processes: int, batch: int) -> list[dict[str, float]]:
    # `accelerate launch --cpu` starts several processes only through mpirun; without MPI, the
    # torchrun path (--multi_gpu) with ACCELERATE_USE_CPU gives CPU data parallelism over gloo.
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu" if processes > 1 else "--cpu",
           "--num_machines", "1", "--num_processes", str(processes), "--mixed_precision", "no",
           "--dynamo_backend", "no", "--main_process_port", str(_free_port()), str(SCRIPT), str(out), str(batch)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "true"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"world={processes} backend=" in proc.stdout
    return read_metrics(out)


@pytest.mark.slow
def test_two_process_ddp_matches_single_process(tmp_path):
    single = _launch(tmp_path / "one", 1, 8)
    double = _launch(tmp_path / "two", 2, 4)  # 2 x 4 = the same global batch of 8
    assert [r["step"] for r in single] == [r["step"] for r in double] == [1, 2, 3, 4, 5, 6]
    assert single[-1]["loss"] < single[0]["loss"]  # it trains
    for a, b in zip(single, double):
        assert b["loss"] == pytest.approx(a["loss"], rel=2e-3)
        assert 2 * b["tokens"] == a["tokens"]  # metrics are per-process means: half the batch each

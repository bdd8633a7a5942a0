"""Two writers on one run directory: the second is refused with one line naming the first (exit 2),
nothing already written changes, and the lock goes with the process that held it."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from nfbench.harness import runlock
    runlock.hold(Path(sys.argv[1]))
    runlock.hold(Path(sys.argv[1]))  # again in the same process: a no-op
    print("held", flush=True)
    time.sleep(120)
    """)


def _samples(tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_text(json.dumps({"task_id": "synth/test/0", "solution": "def f(x):\n    return x\n"}) + "\n")
    return path


def test_second_writer_exits_2_naming_the_first_and_the_store_is_untouched(tmp_path, nfbench_cmd):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "generations.jsonl").write_text('{"task_id": "synth/0", "sample_idx": 0}\n')
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        t0 = time.time()
        res = subprocess.run([*nfbench_cmd, "eval", "--task", "synth", "--samples", str(_samples(tmp_path)),
                              "--out", str(run_dir), "--sandbox", "local"], capture_output=True, text=True)
        assert res.returncode == 2, res.stderr
        line = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
        assert len(line) == 1 and f"in use by process {holder.pid}" in line[0] and "Traceback" not in res.stderr
        assert time.time() - t0 < 60
        assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before  # nothing written or moved
    finally:
        holder.kill()
        holder.wait()
    # the holder is gone (killed, so it could not clean up): the directory is free again
    from nfbench.harness import runlock

    runlock.hold(run_dir)
    assert str(run_dir.resolve()) in runlock._held

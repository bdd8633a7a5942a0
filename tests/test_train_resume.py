"""A training SIGKILLed in the middle of a stage resumes and ends with exactly (bitwise, on CPU) the
weights of an uninterrupted run, for every multi-stage method, latent GRPO included.

Real parts: `nfbench train` processes on tiny-llama and the synth task; the kill lands from outside
at a moment the test does not choose exactly (just after a resumable save of the chosen stage), so
what is checked is the property, not one lucky interleaving. NF-CoT's RL stage rolls out and scores
its samples in the Docker sandbox.
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
import torch
import yaml

pytestmark = pytest.mark.slow

NFBENCH = str(Path(sys.executable).parent / "nfbench")
TASK = {"steps": 2, "n_train": 64, "n_val": 4, "n_test": 4}
TRAINER = {"batch_size": 4, "lr": 1e-3, "warmup_steps": 1, "eval_problems": 0, "log_every": 1, "save_every": 2,
           "max_steps": 2}
LONG = {"trainer": {"max_steps": 5}}  # a stage killed: saves at steps 2 and 4
NFCOT = {"slots": 2, "dim": 4, "vae_width": 32, "vae_heads": 2, "vae_layers": 1, "flow_blocks": 2, "flow_width": 16,
         "flow_layers": 1, "flow_heads": 2, "head_width": 32, "rl_group_size": 2, "rl_max_new_tokens": 8}
# method: (its config, sandbox, the stages killed in turn). Every multi-stage method: Coconut's
# curriculum, Latent-SFT's four stages, NF-CoT's VAE + stage 1 + stage 2 + latent GRPO (killed in
# stage 2, and after that resume in RL).
CONFIGS = {
    "coconut": ({"c_thought": 1, "epochs_per_stage": 1, "max_latent_stage": 2, "num_epochs": 3, "start_epoch": 0},
                "local", ["stage1"]),
    "latent-sft": ({"lora_rank": 4, "lora_alpha": 8}, "local", ["stage2"]),
    "nfcot": (NFCOT, "docker", ["stage2", "rl"]),
}


def _config(tmp: Path, method: str) -> Path:
    method_config, sandbox, killed = CONFIGS[method]
    stages = {k: LONG for k in killed}
    if method == "nfcot":  # RL rolls out groups of 2 and scores them in the sandbox
        stages["rl"] = {"trainer": {**stages.get("rl", {"trainer": {}})["trainer"], "batch_size": 2, "lr": 1e-4}}
    cfg = {"method": method, "backbone": "tiny-llama", "data": "synth",
           "task_options": TASK, "sandbox": sandbox, "init_from": "backbone", "trainer": TRAINER,
           "method_config": {**method_config, "stages": stages}}
    path = tmp / f"{method}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _cmd(config: Path, out: Path) -> list[str]:
    return [NFBENCH, "train", yaml.safe_load(config.read_text())["method"], "--config", str(config), "--set", f"out={out}"]


def _tensors(root: Path) -> dict[str, torch.Tensor]:
    """Every tensor of every weights file of a checkpoint folder (stage folders included)."""
    from safetensors.torch import load_file

    out = {}
    for f in sorted(root.rglob("*")):
        if any(part.startswith("state") for part in f.relative_to(root).parts[:-1]):
            continue  # the trainer's resumable state is not the product
        if f.suffix == ".safetensors":
            out.update({f"{f.relative_to(root)}:{k}": v for k, v in load_file(f).items()})
        elif f.suffix == ".pt":
            _flatten(str(f.relative_to(root)), torch.load(f, weights_only=False, map_location="cpu"), out)
    return out


def _flatten(prefix: str, obj, out: dict) -> None:
    if isinstance(obj, torch.Tensor):
        out[prefix] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _flatten(f"{prefix}.{k}", v, out)


def _killed_then_resumed(config: Path, out: Path, stages: list[str]) -> list[int]:
    """Run, SIGKILL just after the first resumable save of each stage in turn (resuming in between),
    then finish; the steps each kill left to resume from."""
    saved = []
    for stage in stages:
        proc = subprocess.Popen(_cmd(config, out), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        position = out / stage / "state" / "position.json"
        deadline = time.time() + 900
        while not position.exists():
            assert proc.poll() is None and time.time() < deadline, proc.stderr.read()[-2000:]
            time.sleep(0.01)
        time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        assert not (out / stage / "stage_done.json").exists(), f"stage {stage} finished before the kill"
        saved.append(json.loads(position.read_text())["step"])
    done = subprocess.run(_cmd(config, out), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return saved


@pytest.mark.parametrize("method", [pytest.param(m, marks=[pytest.mark.docker] if CONFIGS[m][1] == "docker" else [])
                                    for m in CONFIGS])
def test_a_stage_killed_midway_resumes_to_the_same_weights(method, tmp_path, results_dir):
    config = _config(tmp_path, method)
    full = subprocess.run(_cmd(config, tmp_path / "full"), capture_output=True, text=True, timeout=900)
    assert full.returncode == 0, full.stderr[-3000:]
    resumed_from = _killed_then_resumed(config, tmp_path / "resumed", CONFIGS[method][2])
    assert all(2 <= step < 5 for step in resumed_from), resumed_from
    a, b = _tensors(tmp_path / "full"), _tensors(tmp_path / "resumed")
    assert a and a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, different[:10]
    assert json.loads((tmp_path / "resumed" / "checkpoint.json").read_text())["complete"]

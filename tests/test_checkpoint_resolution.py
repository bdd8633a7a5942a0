"""Which checkpoint `nfbench train` starts from and `nfbench run` uses: by (method, backbone, training
task, data), refused across them with the command that makes the right one; what `train` trains on."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from nfbench.harness import checkpoints as ck
from nfbench.harness.config import RunConfig, TrainConfig, load_config
from nfbench.harness.errors import UserError
from nfbench.harness.registry import get_method
from nfbench.harness.train_data import default_cot_set, resolve, training_task


def fake_checkpoint(root: Path, method: str, name: str, backbone: str, task: str, data: str = "x.jsonl",
                    created: float | None = None) -> Path:
    path = root / "checkpoints" / method / name
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    (path / ck.INFO).write_text(json.dumps({
        "method": method, "backbone": backbone, "complete": True, "created": created or time.time(),
        "train_config": {"task": task, "data": data}, "data": {"source": data, "n": 3, "sha256": "ab" * 32}}))
    return path


def run_cfg(method: str, task: str, **over) -> RunConfig:
    return load_config(RunConfig, None, {"method": method, "task": task, **over})


def test_both_commands_default_to_the_embedded_backbone():
    assert RunConfig().backbone == TrainConfig().backbone == "smollm2-135m"


def test_every_code_benchmark_is_served_by_mbpp_training():
    assert {training_task(t) for t in ("mbpp", "mbpp+", "humaneval", "humaneval+", "livecodebench")} == {"mbpp"}
    assert training_task("synth") == "synth"


def test_run_takes_the_checkpoint_of_its_backbone_and_training_task(results_dir):
    fake_checkpoint(results_dir, "nfcot", "tiny", "tiny-llama", "synth", created=3.0)
    want = fake_checkpoint(results_dir, "nfcot", "real", "smollm2-135m", "mbpp", created=2.0)
    method = get_method("nfcot")(get_method("nfcot").config_class())
    for task in ("mbpp", "mbpp+", "humaneval+"):
        assert ck.resolve_run(method, run_cfg("nfcot", task))[1] == want
    with pytest.raises(UserError) as err:
        ck.resolve_run(method, run_cfg("nfcot", "synth"))
    assert "of smollm2-135m for synth" in err.value.message and "tiny-llama/synth" in err.value.message
    assert err.value.fix.startswith("train one: nfbench train nfcot --task synth")


def test_a_checkpoint_of_another_task_or_backbone_is_refused(results_dir):
    tiny = fake_checkpoint(results_dir, "cot", "tiny", "tiny-llama", "synth")
    method = get_method("cot")(get_method("cot").config_class())
    with pytest.raises(UserError) as err:
        ck.resolve_run(method, run_cfg("cot", "mbpp+", checkpoint=str(tiny)))
    assert "of tiny-llama trained for synth, not of smollm2-135m for mbpp" in err.value.message
    assert "nfbench train cot --task mbpp" in err.value.fix
    assert ck.resolve_run(method, run_cfg("cot", "synth", checkpoint=str(tiny), backbone="tiny-llama"))[1] == tiny


def test_zero_shot_methods_fall_back_to_the_backbone_only_without_a_checkpoint(results_dir):
    method = get_method("soft-thinking")(get_method("soft-thinking").config_class())
    assert ck.resolve_run(method, run_cfg("soft-thinking", "humaneval")) == ("smollm2-135m", None)
    cot = fake_checkpoint(results_dir, "cot", "real", "smollm2-135m", "mbpp")
    assert ck.resolve_run(method, run_cfg("soft-thinking", "humaneval"))[1] == cot


def test_a_latent_method_starts_from_the_cot_model_of_its_task_and_data(results_dir):
    fake_checkpoint(results_dir, "cot", "other-data", "smollm2-135m", "mbpp", data="b.jsonl", created=5.0)
    same = fake_checkpoint(results_dir, "cot", "same-data", "smollm2-135m", "mbpp", data="a.jsonl", created=1.0)
    method = get_method("nfcot")(get_method("nfcot").config_class())
    cfg = load_config(TrainConfig, None, {"method": "nfcot", "task": "mbpp", "data": "a.jsonl"})
    assert ck.resolve_start(method, cfg) == str(same)
    cfg = load_config(TrainConfig, None, {"method": "nfcot", "task": "synth", "data": "a.jsonl"})
    with pytest.raises(UserError) as err:
        ck.resolve_start(method, cfg)
    assert "nfbench train cot --task synth --data a.jsonl" in err.value.fix and "--with-cot" in err.value.fix


def test_train_reads_the_tasks_cot_set_or_says_how_to_make_one(results_dir):
    cfg = load_config(TrainConfig, None, {"method": "cot"})
    with pytest.raises(UserError) as err:
        resolve(cfg)
    assert "nfbench data distill --task mbpp" in err.value.fix
    path = default_cot_set("mbpp")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"task_id": "Mbpp/601", "prompt": "p", "reasoning": "r", "solution": "s"}) + "\n")
    data = resolve(cfg)
    assert (data.task_name, data.data, len(data.examples)) == ("mbpp", str(path), 1)
    own = resolve(load_config(TrainConfig, None, {"method": "direct", "data": "mbpp"}))  # the reference programs
    assert own.task_name == "mbpp" and len(own.examples) > 200 and not any(e.reasoning for e in own.examples)
    with pytest.raises(UserError, match="another task"):
        resolve(load_config(TrainConfig, None, {"method": "cot", "task": "mbpp", "data": "synth"}))

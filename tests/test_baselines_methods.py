"""cot / direct on the tiny backbone: checkpoint lookup, SFT training, generation with costs."""
from __future__ import annotations

import pytest

from nfbench.harness.checkpoints import latest_checkpoint, read_info
from nfbench.harness.config import RunConfig, TrainConfig, load_config
from nfbench.harness.errors import UserError
from nfbench.harness.registry import get_method, get_task

TASK_OPTIONS = {"steps": 2, "n_train": 256, "n_val": 8, "n_test": 8}


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("NFBENCH_RESULTS", str(tmp_path))
    return tmp_path


def _method(schema: type, overrides: dict):
    cfg = load_config(schema, None, overrides)
    task = get_task("synth")(None, **TASK_OPTIONS)
    return get_method(cfg.method)(cfg, cfg.method_config, task), task


def test_run_without_checkpoint_names_the_train_command(results):
    method, _ = _method(RunConfig, {"method": "cot", "task": "synth", "backbone": "tiny-llama"})
    with pytest.raises(UserError) as err:
        method.backbone
    assert "nfbench train cot --backbone tiny-llama" in err.value.fix


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cot", "direct"])
def test_sft_train_then_generate_with_costs(results, name):
    trainer = {"lr": 3e-3, "batch_size": 16, "max_steps": 40, "warmup_steps": 5, "log_every": 10, "eval_problems": 0}
    method, task = _method(TrainConfig, {"method": name, "backbone": "tiny-llama", "data": "synth",
                                         "task_options": TASK_OPTIONS, "name": "t", "trainer": trainer})
    ckpt = method.train(method.run_config)
    info = read_info(ckpt)
    assert info["complete"] and info["data"]["n"] == 256 and len(info["data"]["sha256"]) == 64
    assert info["final_metrics"]["loss"] < 2.0  # from ~4.6 at init: it learned the format
    assert latest_checkpoint(name, "tiny-llama") == ckpt

    runner, _ = _method(RunConfig, {"method": name, "task": "synth", "backbone": "tiny-llama", "batch_size": 4,
                                    "max_new_tokens": 64, "task_options": TASK_OPTIONS})
    problems = task.problems("test")[:3]
    gens = runner.generate(problems, 2, seed=0)
    assert runner.checkpoint == ckpt and runner.manifest_info()["checkpoint"] == str(ckpt)
    assert [(g.task_id, g.sample_idx) for g in gens] == [(p.task_id, s) for p in problems for s in range(2)]
    for g in gens:
        c = g.cost
        assert c.prompt_tokens == len(g.prompt) + 1  # chars + <bos>
        assert c.answer_tokens > 0 and c.flops > 0 and c.kv_cache_bytes > 0
        produced = c.reasoning_positions + c.answer_tokens
        # prefill + every produced token fed back, except the last one when the length limit cut it
        assert c.forward_passes == produced + 1 or (produced == 64 and c.forward_passes == 64)
        if name == "cot":
            assert c.reasoning_positions > 0 and c.reasoning_seconds > 0 and g.reasoning is not None
        else:
            assert c.reasoning_positions == 0 and c.reasoning_seconds == 0 and g.reasoning is None
        assert g.solution.endswith("\n")

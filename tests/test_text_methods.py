"""cot / direct on the tiny backbone: which weights a run uses, SFT training through the stage runner,
generation with costs."""
from __future__ import annotations

import pytest

from nfbench.harness import pipeline
from nfbench.harness.checkpoints import latest_checkpoint, read_info
from nfbench.harness.config import RunConfig, TrainConfig, load_config
from nfbench.harness.errors import UserError
from nfbench.harness.registry import get_task
from nfbench.methods.base import Decoding, generate

TASK_OPTIONS = {"steps": 2, "n_train": 256, "n_val": 8, "n_test": 8}


def _run_config(name: str, **kw):
    return load_config(RunConfig, None, {"method": name, "task": "synth", "backbone": "tiny-llama", "batch_size": 4,
                                         "max_new_tokens": 64, "task_options": TASK_OPTIONS, **kw})


def test_run_without_checkpoint_names_the_train_command(results_dir):
    with pytest.raises(UserError) as err:
        pipeline.open_generator(_run_config("cot"), get_task("synth")(None, **TASK_OPTIONS))
    assert "nfbench train cot --task synth --backbone tiny-llama" in err.value.fix


@pytest.mark.slow
@pytest.mark.parametrize("name", ["cot", "direct"])
def test_sft_train_then_generate_with_costs(results_dir, name):
    trainer = {"lr": 3e-3, "batch_size": 16, "max_steps": 40, "warmup_steps": 5, "log_every": 10, "eval_problems": 0}
    cfg = load_config(TrainConfig, None, {"method": name, "backbone": "tiny-llama", "data": "synth",
                                          "task_options": TASK_OPTIONS, "name": "t", "trainer": trainer})
    ckpt = pipeline.train(cfg)
    info = read_info(ckpt)
    assert info["complete"] and info["data"]["n"] == 256 and len(info["data"]["sha256"]) == 64
    [sft] = info["stages"]
    assert sft["name"] == "sft" and sft["steps"] == 40 and sft["metrics"]["loss"] < 2.0  # from ~4.6: learned the format
    assert sft["trainer"]["lr"] == 3e-3 and (ckpt / "sft" / "stage_done.json").is_file()
    assert latest_checkpoint(name, "tiny-llama") == ckpt

    task = get_task("synth")(None, **TASK_OPTIONS)
    cfg = _run_config(name)
    generator = pipeline.open_generator(cfg, task)
    problems = task.problems("test")[:3]
    gens = generate(generator, problems, 2, 0, pipeline.decoding(cfg))
    assert generator.manifest_info()["checkpoint"] == str(ckpt)
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
        assert g.solution.endswith("\n") and g.extra["format"] == "compact"
    # batched generation equals one-by-one generation (left padding and the cache are exact)
    alone = [generate(generator, [p], 1, 0, Decoding(max_new_tokens=64))[0] for p in problems]
    assert [g.raw_output for g in alone] == [g.raw_output for g in gens[::2]]

"""The coconut method end to end on a tiny Llama: curriculum training through the shared trainer
(stage dirs, optimizer reset per stage, resume), then batched KV-cached generation with k thoughts."""
from __future__ import annotations

import json

import pytest

from nfbench.harness.config import RunConfig, TrainConfig, load_config
from nfbench.harness.errors import UserError
from nfbench.harness.pipeline import open_task
from nfbench.methods.coconut import CoconutMethod, split_steps

TASK = {"steps": 2, "n_train": 48, "n_val": 4, "n_test": 6}


def test_split_steps_round_trips():
    text = "b=7+5=2;c=2*7=4;d=4-4=0\n"
    steps = split_steps(text, ";")
    assert steps == ["b=7+5=2;", "c=2*7=4;", "d=4-4=0\n"]
    assert "".join(steps) == text
    assert split_steps("one\ntwo\n", "\n") == ["one\n", "two\n"]


def _train_config(tmp_path, **method):
    overrides = {"method": "coconut", "backbone": "tiny-llama", "data": "synth", "task_options": TASK,
                 "out": str(tmp_path / "ckpt"), "sandbox": "local",
                 "trainer": {"batch_size": 8, "lr": 1e-3, "warmup_steps": 1, "eval_problems": 0, "log_every": 1},
                 "method_config": {"c_thought": 1, "epochs_per_stage": 1, "max_latent_stage": 2, "num_epochs": 3,
                                   "steps_per_stage": 2, "require_cot_init": False, **method}}
    return load_config(TrainConfig, None, overrides)


def test_needs_a_cot_checkpoint(results_dir, tmp_path):
    cfg = _train_config(tmp_path, require_cot_init=True)
    with pytest.raises(UserError, match="nfbench train cot"):
        CoconutMethod(cfg, cfg.method_config, open_task("synth", None, TASK)).train(cfg)


@pytest.mark.slow
def test_train_curriculum_then_generate(results_dir, tmp_path):
    cfg = _train_config(tmp_path)
    task = open_task("synth", None, TASK)
    ckpt = CoconutMethod(cfg, cfg.method_config, task).train(cfg)
    info = json.loads((ckpt / "checkpoint.json").read_text())
    # from a raw backbone the curriculum starts at stage 0; epochs 0,1,2 -> stages 0,1,2
    assert info["complete"] and [s["stage"] for s in info["stages"]] == [0, 1, 2]
    assert info["inference_latents"] == 2
    for stage, passes in ((0, 1), (1, 2), (2, 3)):  # n thoughts -> n+1 sequential passes
        done = json.loads((ckpt / f"stage{stage}" / "stage_done.json").read_text())
        assert done["steps"] == 2 and done["metrics"]["passes"] == passes
    assert [p.name for p in ckpt.glob("stage*/weights.pt")] == ["weights.pt"]  # only the latest kept
    # a rerun resumes: nothing is retrained, the same weights come back
    before = (ckpt / "model.safetensors").read_bytes()
    CoconutMethod(cfg, cfg.method_config, task).train(cfg)
    assert (ckpt / "model.safetensors").read_bytes() == before

    run = load_config(RunConfig, None, {"method": "coconut", "backbone": "tiny-llama", "checkpoint": str(ckpt),
                                        "task_options": TASK, "max_new_tokens": 12, "batch_size": 4})
    method = CoconutMethod(run, run.method_config, task)
    problems = task.problems("test")
    gens = method.generate(problems, 1, seed=0)
    assert [g.task_id for g in gens] == [p.task_id for p in problems]
    for g in gens:
        # two thoughts (+ any text steps an untrained model may write before its answer)
        assert g.cost.reasoning_positions == 2 + g.extra["text_reasoning_tokens"]
        assert g.cost.prompt_tokens > 0 and g.extra["latents"] == 2
        assert g.cost.answer_tokens + g.extra["text_reasoning_tokens"] <= 12
    # batched generation equals one-by-one generation (left padding and the cache are exact)
    alone = [method.generate([p], 1, seed=0)[0] for p in problems[:2]]
    assert [g.raw_output for g in alone] == [g.raw_output for g in gens[:2]]


def test_text_steps_left_after_the_thoughts_count_as_reasoning(results_dir, tmp_path):
    from nfbench.harness.backbone import load_backbone

    cfg = load_config(RunConfig, None, {"method": "coconut", "backbone": "tiny-llama", "task_options": TASK})
    method = CoconutMethod(cfg, cfg.method_config, open_task("synth", None, TASK))
    method._backbone = load_backbone("tiny-llama", device="cpu")
    tok = method.backbone.tokenizer
    problem = method.task.problems("test")[0]
    enc = lambda text: tok(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    assert method.leftover_reasoning(problem, enc("d=4-4=0\ndef f(x):return 1\n")) == len("d=4-4=0\n")
    assert method.leftover_reasoning(problem, enc("def f(x):return 1\n")) == 0
    assert method.leftover_reasoning(problem, enc("def f(x):return 1")) == 0

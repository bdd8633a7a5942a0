"""The coconut method end to end on a tiny Llama: the curriculum as pipeline stages (stage dirs,
optimizer reset per stage, resume), then batched KV-cached generation with k thoughts."""
from __future__ import annotations

import json

import pytest

from nfbench.harness import pipeline
from nfbench.harness.config import RunConfig, TrainConfig, load_config
from nfbench.harness.errors import UserError
from nfbench.methods.base import Decoding, generate
from nfbench.methods.coconut import split_steps

TASK = {"steps": 2, "n_train": 48, "n_val": 4, "n_test": 6}


def test_split_steps_round_trips():
    text = "b=7+5=2;c=2*7=4;d=4-4=0\n"
    steps = split_steps(text, ";")
    assert steps == ["b=7+5=2;", "c=2*7=4;", "d=4-4=0\n"]
    assert "".join(steps) == text
    assert split_steps("one\ntwo\n", "\n") == ["one\n", "two\n"]
    assert split_steps("one line of reasoning.\n\n", "\n") == ["one line of reasoning.\n\n"]  # a chat CoT of one line
    assert split_steps("TUg\n", "") == ["T", "U", "g\n"]  # "": one step per character (graph, reasoning=nodes)


def _train_config(tmp_path, init_from="backbone", **method):
    overrides = {"method": "coconut", "backbone": "tiny-llama", "data": "synth", "task_options": TASK,
                 "out": str(tmp_path / "ckpt"), "sandbox": "local", "init_from": init_from,
                 "trainer": {"batch_size": 8, "lr": 1e-3, "warmup_steps": 1, "eval_problems": 0, "log_every": 1,
                             "max_steps": 2},
                 "method_config": {"c_thought": 1, "epochs_per_stage": 1, "max_latent_stage": 2, "num_epochs": 3,
                                   "start_epoch": 0, **method}}
    return load_config(TrainConfig, None, overrides)


def test_needs_a_cot_checkpoint(results_dir, tmp_path):
    with pytest.raises(UserError, match="nfbench train cot"):
        pipeline.train(_train_config(tmp_path, init_from=None))


@pytest.mark.slow
def test_train_curriculum_then_generate(results_dir, tmp_path):
    cfg = _train_config(tmp_path, stages={"stage2": {"trainer": {"max_steps": 3}}})
    ckpt = pipeline.train(cfg)
    info = json.loads((ckpt / "checkpoint.json").read_text())
    # from the raw backbone (start_epoch 0) the curriculum starts at stage 0; epochs 0,1,2 -> stages 0,1,2
    assert info["complete"] and [s["stage"] for s in info["curriculum"]] == [0, 1, 2]
    assert [s["name"] for s in info["stages"]] == ["stage0", "stage1", "stage2"] and info["inference_latents"] == 2
    for stage, passes, steps in ((0, 1, 2), (1, 2, 2), (2, 3, 3)):  # n thoughts -> n+1 sequential passes
        done = json.loads((ckpt / f"stage{stage}" / "stage_done.json").read_text())
        assert done["steps"] == steps and done["metrics"]["passes"] == passes
        assert done["trainer"]["schedule"] == "constant" and done["latents"] == stage  # the reference's lr
    # a rerun resumes: nothing is retrained, the same weights come back
    before = (ckpt / "model.safetensors").read_bytes()
    pipeline.train(cfg)
    assert (ckpt / "model.safetensors").read_bytes() == before

    run = load_config(RunConfig, None, {"method": "coconut", "task": "synth", "backbone": "tiny-llama", "checkpoint": str(ckpt),
                                        "task_options": TASK, "max_new_tokens": 12, "batch_size": 4})
    task = pipeline.open_task("synth", None, TASK)
    generator = pipeline.open_generator(run, task)
    problems = task.problems("test")
    gens = generate(generator, problems, 1, 0, pipeline.decoding(run))
    assert [g.task_id for g in gens] == [p.task_id for p in problems]
    for g in gens:
        # two thoughts (+ any text steps an untrained model may write before its answer)
        assert g.cost.reasoning_positions == 2 + g.extra["text_reasoning_tokens"]
        assert g.cost.prompt_tokens > 0 and g.extra["latents"] == 2
        assert g.cost.answer_tokens + g.extra["text_reasoning_tokens"] <= 12
    # batched generation equals one-by-one generation (left padding and the cache are exact)
    alone = [generate(generator, [p], 1, 0, Decoding(max_new_tokens=12))[0] for p in problems[:2]]
    assert [g.raw_output for g in alone] == [g.raw_output for g in gens[:2]]


def test_stage_and_stage_settings_are_checked_before_training(results_dir, tmp_path):
    with pytest.raises(UserError, match="no stage 'stage9'"):
        pipeline.train(_train_config(tmp_path, stages={"stage9": {"trainer": {"lr": 1e-3}}}))
    cfg = _train_config(tmp_path)
    cfg.stage = "stage2"
    with pytest.raises(UserError, match="stage 'stage1' .* has not finished"):
        pipeline.train(cfg)


def test_text_steps_left_after_the_thoughts_count_as_reasoning(results_dir, tmp_path):
    from nfbench.harness.backbone import load_backbone
    from nfbench.methods.coconut.generate import CoconutGenerator
    from nfbench.methods.prompt_format import PromptFormat
    from nfbench.methods.text_stream import TextStream

    task = pipeline.open_task("synth", None, TASK)
    bb = load_backbone("tiny-llama", device="cpu")
    generator = CoconutGenerator(TextStream(bb, PromptFormat(task, bb.tokenizer, True)), {}, 2)
    problem = task.problems("test")[0]
    enc = lambda text: bb.tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    assert generator.leftover_reasoning(problem, enc("d=4-4=0\ndef f(x):return 1\n")) == len("d=4-4=0\n")
    assert generator.leftover_reasoning(problem, enc("def f(x):return 1\n")) == 0
    assert generator.leftover_reasoning(problem, enc("def f(x):return 1")) == 0

"""The pause method on a tiny Llama: its training sequences, the stage through `nfbench train`, and
generation that charges the pauses as reasoning positions."""
from __future__ import annotations

import json

import pytest

from nfbench.harness import pipeline
from nfbench.harness.backbone import load_backbone
from nfbench.harness.batching import IGNORE
from nfbench.harness.config import RunConfig, TrainConfig, load_config
from nfbench.harness.cost import kv_bytes_per_position
from nfbench.harness.sft_data import task_examples
from nfbench.methods.base import Decoding, generate
from nfbench.methods.pause import PAUSE, encode_example, pause_id
from nfbench.methods.prompt_format import PromptFormat

TASK = {"steps": 2, "n_train": 64, "n_val": 4, "n_test": 6}


def test_training_sequences_put_the_pauses_between_prompt_and_answer_without_loss():
    bb = load_backbone("tiny-llama", device="cpu")
    pause = pause_id(bb)
    assert bb.tokenizer(f"a{PAUSE}b", add_special_tokens=False)["input_ids"][1] == pause  # one token
    task = pipeline.open_task("synth", None, TASK)
    ex = task_examples(task, "train")[0]
    fmt = PromptFormat(task, bb.tokenizer, reasons=False)
    row = encode_example(fmt, ex, 3)
    prompt = fmt.example_prompt_ids(ex)
    answer = bb.tokenizer(ex.solution, add_special_tokens=False)["input_ids"] + [bb.tokenizer.eos_token_id]
    assert row["input_ids"] == prompt + [pause] * 3 + answer
    assert row["labels"] == [IGNORE] * (len(prompt) + 3) + answer  # no reasoning text is learned


@pytest.mark.slow
def test_train_then_generate_charges_the_pauses_as_reasoning(results_dir):
    cfg = load_config(TrainConfig, None, {
        "method": "pause", "backbone": "tiny-llama", "data": "synth", "task_options": TASK, "init_from": "backbone",
        "sandbox": "local",
        "trainer": {"max_steps": 3, "batch_size": 8, "warmup_steps": 1, "eval_problems": 0},
        "method_config": {"n_pauses": 3}})
    ckpt = pipeline.train(cfg)
    info = json.loads((ckpt / "checkpoint.json").read_text())
    assert info["complete"] and info["n_pauses"] == 3 and [s["name"] for s in info["stages"]] == ["sft"]
    run = load_config(RunConfig, None, {"method": "pause", "task": "synth", "backbone": "tiny-llama",
                                        "task_options": TASK, "max_new_tokens": 10, "batch_size": 4})
    task = pipeline.open_task("synth", None, TASK)
    generator = pipeline.open_generator(run, task)  # finds the latest pause checkpoint; 3 pauses from it
    problems = task.problems("test")
    gens = generate(generator, problems, 1, 0, pipeline.decoding(run))
    per_position = kv_bytes_per_position(generator.stream.backbone.model.config, generator.stream.backbone.dtype)
    for g in gens:
        c = g.cost
        assert c.reasoning_positions == 3 and g.reasoning == "<3 pauses>" and g.extra["pauses"] == 3
        assert c.kv_cache_bytes == (c.prompt_tokens + 3) * per_position  # the cache at the end of reasoning
        assert c.forward_passes >= 2 and c.reasoning_seconds > 0  # prompt, then the pauses in one pass
    alone = [generate(generator, [p], 1, 0, Decoding(max_new_tokens=10))[0] for p in problems[:2]]
    assert [g.raw_output for g in alone] == [g.raw_output for g in gens[:2]]

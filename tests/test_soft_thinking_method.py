"""The soft-thinking method on a tiny Llama checkpoint: which weights it uses, batched generation,
and cost accounting (reasoning positions = concept tokens fed)."""
from __future__ import annotations

import pytest

from nfbench.harness.backbone import load_backbone
from nfbench.harness.config import RunConfig, load_config
from nfbench.harness.errors import UserError
from nfbench.harness.pipeline import decoding, open_generator, open_task
from nfbench.methods.base import generate

TASK = {"steps": 2, "n_train": 8, "n_val": 4, "n_test": 5}


def _run(**kw):
    return load_config(RunConfig, None, {"method": "soft-thinking", "backbone": "tiny-llama", "task": "synth",
                                         "task_options": TASK, "max_new_tokens": 10, "batch_size": 8, **kw})


def test_needs_a_cot_model_for_tiny(results_dir):
    with pytest.raises(UserError, match="nfbench train cot"):
        open_generator(_run(), open_task("synth", None, TASK))


@pytest.mark.slow
def test_generate_counts_concept_tokens(results_dir, tmp_path):
    ckpt = load_backbone("tiny-llama", device="cpu", seed=3).save(tmp_path / "cot")
    task = open_task("synth", None, TASK)
    problems = task.problems("test")
    cfg = _run(checkpoint=str(ckpt), method_config={"max_thinking_steps": 6})
    generator = open_generator(cfg, task)
    gens = generate(generator, problems, 2, 0, decoding(cfg))
    assert len(gens) == 10 and [g.sample_idx for g in gens[:2]] == [0, 1]
    for g in gens:
        steps = g.extra["concept_tokens"]
        assert 0 <= steps <= 6 and g.cost.reasoning_positions == steps
        assert g.extra["stopped_by"] in ("end_token", "entropy", "max_steps")
        assert (steps == 6) == (g.extra["stopped_by"] == "max_steps")
        # one character per concept token (its argmax), none for special tokens a random model may pick
        assert g.cost.answer_tokens <= 10 and len(g.reasoning) <= steps
        # prompt + concept tokens + the end-of-thinking token stay in the cache at the end of reasoning
        per_position = g.cost.kv_cache_bytes // (g.cost.prompt_tokens + steps + 1)
        assert per_position * (g.cost.prompt_tokens + steps + 1) == g.cost.kv_cache_bytes
    # the random model thinks until max_steps or its argmax hits "\n": rerunning one problem alone
    # (no batch neighbours, no padding) gives the same thoughts
    alone = generate(generator, problems[:1], 1, 0, decoding(cfg))[0]
    assert alone.reasoning == gens[0].reasoning and alone.raw_output == gens[0].raw_output

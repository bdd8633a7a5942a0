"""latent-sft end to end at toy size: `pipeline.train` (all stages, resumable), then its generator."""
import json

import pytest
import torch

from nfbench.harness.config import RunConfig, TrainConfig, load_config
from nfbench.harness.errors import UserError
from nfbench.harness.pipeline import decoding, open_generator
from nfbench.harness.registry import get_task
from nfbench.methods.base import generate

TOY = {"backbone": "tiny-llama", "task_options": {"steps": 2, "n_train": 24, "n_val": 4, "n_test": 4}, "sandbox": "local",
       "trainer": {"batch_size": 4, "eval_problems": 0, "warmup_steps": 1, "log_every": 1, "save_every": 100}}
METHOD = {"lora_rank": 4, "lora_alpha": 8}


def toy_train_config(**method) -> TrainConfig:
    return load_config(TrainConfig, None, {"method": "latent-sft", "data": "synth", "name": "toy", "init_from": "backbone",
                                           **TOY, "trainer": {**TOY["trainer"], "max_steps": 2},
                                           "method_config": {**METHOD, **method}})


@pytest.mark.slow
def test_train_then_generate(results_dir):
    from nfbench.harness.pipeline import train

    ckpt = train(toy_train_config())
    info = json.loads((ckpt / "checkpoint.json").read_text())
    names = ["stage1-encoder", "stage1-decoder", "stage1-joint", "stage2"]
    assert info["complete"] and [s["name"] for s in info["stages"]] == names and info["final_stage"] == "stage2"
    task = get_task("synth")(None, steps=2, n_train=24, n_val=4, n_test=4)
    cots = [len(task.format_example(p)[1].strip()) for p in task.problems("train")]  # one token per char
    assert info["mean_cot_tokens"] == pytest.approx(sum(cots) / len(cots))
    assert info["mean_latents"] == pytest.approx(sum(-(-n // 4) for n in cots) / len(cots))  # ceil(n / k)
    assert info["stages"][-1]["teacher_distinct_top1"] >= 1 and "teacher_n_eff" in info["stages"][0]
    for name in names:
        assert (ckpt / name / "stage_done.json").is_file()
    before = (ckpt / "model.safetensors").read_bytes()
    assert train(toy_train_config()) == ckpt and (ckpt / "model.safetensors").read_bytes() == before  # nothing retrained

    run = load_config(RunConfig, None, {"method": "latent-sft", "task": "synth", "backbone": "tiny-llama", "checkpoint": str(ckpt),
                                        "max_new_tokens": 8, "method_config": {"max_latents": 3}})
    problems = task.problems("test")[:3]
    gens = generate(open_generator(run, task), problems, 1, 0, decoding(run))
    assert [g.task_id for g in gens] == [p.task_id for p in problems]
    for g, problem in zip(gens, problems):
        m = g.extra["latent_steps"]
        assert 0 <= m <= 3 and g.cost.reasoning_positions == m
        assert g.cost.answer_tokens <= 8 and g.reasoning.startswith(f"<{m} latents>")
        if m:
            assert 1.0 <= g.extra["n_eff"] <= 10.0 + 1e-6
            assert g.extra["compression_rate"] == pytest.approx(len(problem.reasoning) / m)  # one token per char


def test_stage1_is_reproducible_whatever_the_global_rng(results_dir, tmp_path):
    from nfbench.harness.backbone import load_backbone
    from nfbench.harness.pipeline import train
    from nfbench.harness.trainer import read_metrics

    load_backbone("tiny-llama").save(tmp_path / "cot", backbone="tiny-llama")  # a checkpoint: loading it draws no seed
    losses = []
    for seed, name in ((1, "a"), (2, "b")):
        torch.manual_seed(seed)  # what ran before in the process must not matter
        cfg = toy_train_config(stages={"stage1-encoder": {"trainer": {"max_steps": 3}}})
        cfg.name, cfg.stage, cfg.init_from = name, "stage1-encoder", str(tmp_path / "cot")
        losses.append([row["loss"] for row in read_metrics(train(cfg) / "stage1-encoder")])
    assert losses[0] == losses[1] and len(losses[0]) == 3


def test_bad_stage_and_missing_cot_are_user_errors(results_dir):
    from nfbench.harness.pipeline import train

    cfg = toy_train_config()
    cfg.stage = "3"
    with pytest.raises(UserError, match="no stage '3'"):
        train(cfg)
    cfg = toy_train_config()
    cfg.init_from = None
    with pytest.raises(UserError, match="nfbench train cot"):
        train(cfg)


def test_stage_group_runs_every_stage1_phase(results_dir):
    from nfbench.harness.pipeline import train

    cfg = toy_train_config()
    cfg.stage = "stage1"
    ckpt = train(cfg)
    info = json.loads((ckpt / "checkpoint.json").read_text())
    assert [s["name"] for s in info["stages"]] == ["stage1-encoder", "stage1-decoder", "stage1-joint"]
    assert not info["complete"] and info["final_stage"] is None  # stage 1 holds no runnable model


def test_compress_token_starts_from_its_own_token(results_dir):
    """compress_init_token seeds only <compress> (input and output rows); the think tokens keep eos's."""
    from nfbench.harness.backbone import load_backbone
    from nfbench.methods.latent_sft import special_ids

    cfg = toy_train_config(compress_init_token=";")
    bb = load_backbone("tiny-llama")
    sp = special_ids(bb, cfg.method_config)
    tok, model = bb.tokenizer, bb.model
    semi = tok.convert_tokens_to_ids(";")
    for emb in (model.get_input_embeddings().weight, model.get_output_embeddings().weight):
        assert torch.equal(emb[sp.compress], emb[semi])
        assert torch.equal(emb[sp.think], emb[tok.eos_token_id]) and torch.equal(emb[sp.end_think], emb[tok.eos_token_id])

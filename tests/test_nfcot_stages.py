"""NF-CoT stages through the real pipeline (shared trainer, checkpoints) on a tiny synth slice:
stage 1 freezes the backbone, stage 2 trains it, stages resume/run alone, RL's objective, and
`nfbench run` on the result."""
from __future__ import annotations

import json

import pytest
import torch

from nfbench.harness.config import RunConfig, TrainConfig, load_config
from nfbench.harness.errors import UserError
from nfbench.methods.nfcot.rl import group_advantages, grpo_objective

TINY = {
    "method": "nfcot", "backbone": "tiny-llama", "data": "synth", "name": "t", "sandbox": "docker", "init_from": "backbone",
    "task_options": {"steps": 2, "n_train": 64, "n_val": 8, "n_test": 8},
    "trainer": {"lr": 3e-3, "batch_size": 16, "warmup_steps": 1, "eval_problems": 0, "save_every": 2, "log_every": 1},
    "method_config": {
        "slots": 2, "dim": 4, "vae_width": 32, "vae_heads": 2, "vae_layers": 1, "flow_blocks": 2, "flow_width": 16,
        "flow_layers": 1, "flow_heads": 2, "head_width": 32, "rl_group_size": 2, "rl_max_new_tokens": 8,
        "stages": {"vae": {"trainer": {"max_steps": 3, "lr": 1e-3}}, "stage1": {"trainer": {"max_steps": 3, "lr": 1e-2}},
                   "stage2": {"trainer": {"max_steps": 3, "lr": 1e-3}},
                   "rl": {"skip": True, "trainer": {"max_steps": 1, "batch_size": 2, "lr": 1e-4}}}},
}


def _train(results_dir, **over):
    from nfbench.harness import pipeline

    cfg = load_config(TrainConfig, None, json.loads(json.dumps({**TINY, **over})))
    return pipeline.train(cfg)


def _weights(path):
    from nfbench.harness.backbone import load_backbone

    return {k: v.clone() for k, v in load_backbone(str(path), device="cpu").model.state_dict().items()}


@pytest.mark.slow
def test_stage1_freezes_backbone_and_stage2_trains_it(results_dir):
    from nfbench.harness.backbone import load_backbone

    ckpt = _train(results_dir)
    initial = load_backbone("tiny-llama", device="cpu", seed=0).model.state_dict()
    after1, after2 = _weights(ckpt / "stage1"), _weights(ckpt / "stage2")
    assert all(torch.equal(initial[k], after1[k]) for k in initial)
    assert any(not torch.equal(after1[k], after2[k]) for k in after1)
    extras1 = torch.load(ckpt / "stage1" / "nfcot.pt", weights_only=True)["state"]
    assert any(v.abs().sum() > 0 for k, v in extras1.items() if "proj_out" in k)  # the flow left identity
    info = json.loads((ckpt / "checkpoint.json").read_text())
    assert info["complete"] and info["final_stage"] == "stage2"  # rl skipped: the pipeline ends at stage 2
    vae = next(s for s in info["stages"] if s["name"] == "vae")
    assert 0 <= vae["vae_reconstruction"]["recon_token_acc"] <= 1
    assert (ckpt / "nfcot.pt").is_file() and (ckpt / "vae.pt").is_file()
    for stage in ("vae", "stage1", "stage2"):
        assert (ckpt / stage / "metrics.csv").is_file()
    # a finished pipeline is not retrained; a later stage alone needs the earlier ones
    assert _train(results_dir) == ckpt
    with pytest.raises(UserError, match="has not finished"):
        _train(results_dir, name="other", stage="stage2")


@pytest.mark.slow
@pytest.mark.docker
def test_rl_stage_and_run_record_likelihoods(results_dir):
    from nfbench.harness import pipeline

    stages = {**TINY["method_config"]["stages"], "rl": {"trainer": {"max_steps": 1, "batch_size": 2, "lr": 1e-4}}}
    ckpt = _train(results_dir, method_config={**TINY["method_config"], "stages": stages})
    rows = (ckpt / "rl" / "metrics.csv").read_text().splitlines()
    assert "reward" in rows[0] and "kl" in rows[0] and len(rows) >= 2
    cfg = load_config(RunConfig, None, {
        "method": "nfcot", "task": "synth", "backbone": "tiny-llama", "checkpoint": str(ckpt), "limit": 2,
        "n_samples": 2, "temperature": 0.6, "max_new_tokens": 8, "task_options": TINY["task_options"],
        "method_config": {**TINY["method_config"], "decode_thoughts": True}})
    path, summary = pipeline.run(cfg, out=str(results_dir / "run"))
    gens = [json.loads(line) for line in (path / "generations.jsonl").read_text().splitlines()]
    assert len(gens) == 4 and summary["pass_at_k"]["base"]["1"]["n_problems"] == 2
    for g in gens:
        assert g["cost"]["reasoning_positions"] == 2
        assert len(g["extra"]["latent_logp_per_step"]) == 2 and g["extra"]["answer_logp"] <= 0
        assert g["reasoning"].startswith("[2 latent thoughts] ")  # F^-1 + VAE decoder rendering


def test_bad_stages_and_preconditions_fail_before_any_training(results_dir, tmp_path):
    with pytest.raises(UserError, match="has no stage 'stage3'"):
        _train(results_dir, stage="stage3")
    with pytest.raises(UserError, match="no stage 'sft'"):
        _train(results_dir, method_config={**TINY["method_config"], "stages": {"sft": {}}})
    skip_stage1 = {**TINY["method_config"]["stages"], "stage1": {"skip": True}}
    with pytest.raises(UserError, match="needs stage 'stage1'"):
        _train(results_dir, method_config={**TINY["method_config"], "stages": skip_stage1})
    # a JSONL set is trained for a task (default mbpp: its tests reward RL; test_stages checks the refusal
    # of RL without a task at the runner)
    from nfbench.harness.registry import get_task
    from nfbench.harness.sft_data import task_examples, write_sft
    from nfbench.harness.train_data import resolve

    data = tmp_path / "set.jsonl"
    write_sft(data, task_examples(get_task("synth")(None, **TINY["task_options"]), "train"))
    assert resolve(load_config(TrainConfig, None, {**TINY, "data": str(data), "task_options": {}})).task_name == "mbpp"
    assert resolve(load_config(TrainConfig, None, {**TINY, "data": str(data), "task": "synth"})).task_name == "synth"
    cfg = load_config(RunConfig, None, {"method": "nfcot", "task": "synth", "backbone": "tiny-llama"})
    from nfbench.harness.pipeline import open_generator

    with pytest.raises(UserError, match="nfbench train nfcot"):
        open_generator(cfg, None)


def test_group_advantages_are_normalised_per_group():
    adv = group_advantages(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0]), group=3)
    assert torch.allclose(adv.view(2, 3).mean(1), torch.zeros(2), atol=1e-5)
    assert adv[0] > 0 > adv[1] and adv[3] < 0 < adv[4]
    assert torch.equal(group_advantages(torch.ones(4), group=4), torch.zeros(4))  # no signal, no push


def test_grpo_gradient_raises_likelihood_of_better_samples():
    new = torch.zeros(2, 3, requires_grad=True)
    old = torch.zeros(2, 3)
    loss, metrics = grpo_objective(new, old, old.clone(), torch.ones(2, 3), torch.tensor([1.0, -1.0]),
                                   clip_eps=0.2, kl_coef=0.1)
    loss.backward()
    assert (new.grad[0] < 0).all() and (new.grad[1] > 0).all()  # descent raises row 0, lowers row 1
    assert metrics["kl"] == 0.0
    # far outside the clip range the advantage-weighted term has no gradient
    new2 = torch.full((1, 2), 1.0, requires_grad=True)
    grpo_objective(new2, torch.zeros(1, 2), new2.detach().clone(), torch.ones(1, 2), torch.tensor([1.0]),
                   0.2, 0.0)[0].backward()
    assert torch.equal(new2.grad, torch.zeros(1, 2))

"""The GPU recipes (configs/recipes/<backbone>/<method>.yaml) load, name real options and stages, keep
the papers' schedules, and run on CPU with the tiny model substituted. Nothing is downloaded: a recipe
is resolved as a config (the backbone is only a string until a run loads it)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch

from nfbench.harness.config import RunConfig, TrainConfig, load_config
from nfbench.harness.registry import get_method
from nfbench.harness.stages import plan, stage_trainer

RECIPES = Path(__file__).resolve().parent.parent / "configs" / "recipes"
METHODS = ("cot", "direct", "coconut", "latent-sft", "nfcot", "pause", "soft-thinking")
BACKBONES = {"qwen2.5-coder-1.5b": "Qwen/Qwen2.5-Coder-1.5B-Instruct", "qwen3-8b": "Qwen/Qwen3-8B-Base"}
RECIPE_FILES = sorted(RECIPES.glob("*/*.yaml"))


def load(path: Path):
    method = get_method(path.stem)
    schema = TrainConfig if method(method.config_class()).stages() else RunConfig
    return schema, load_config(schema, str(path), {})


def stage_trainers(cfg: TrainConfig) -> dict:
    method = get_method(cfg.method)(cfg.method_config)
    pipeline, _ = plan(method.stages(), cfg.method_config.stages, None, method.name)  # unknown stage names fail here
    return {s.name: stage_trainer(cfg, s, cfg.method_config.stages) for s in pipeline}


def test_every_backbone_has_a_recipe_per_method():
    assert {(p.parent.name, p.stem) for p in RECIPE_FILES} == {(b, m) for b in BACKBONES for m in METHODS}


@pytest.mark.parametrize("path", RECIPE_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_recipe_resolves(path):
    schema, cfg = load(path)  # unknown keys or bad values raise UserError
    assert cfg.method == path.stem and cfg.backbone == BACKBONES[path.parent.name]
    assert cfg.method_config.__class__ is get_method(cfg.method).config_class
    assert cfg.dtype == "auto" and cfg.device == "auto"  # bf16 on a GPU, float32 on CPU: not pinned
    if schema is RunConfig:
        return
    assert cfg.task == "mbpp"
    trainers = stage_trainers(cfg)
    method = get_method(cfg.method)
    for name, t in trainers.items():
        assert not (method.trains_with_cache and t.gradient_checkpointing), name
        if name != "rl" and "vae" not in name:  # supervised stages: an effective batch of 64-128 per GPU count
            assert 16 <= t.batch_size * t.grad_accum <= 128, (name, t.batch_size, t.grad_accum)
    if path.parent.name == "qwen3-8b" and not method.trains_with_cache:
        assert all(t.gradient_checkpointing for n, t in trainers.items() if n != "vae"), trainers


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_papers_schedules(backbone):
    """NF-CoT's stages and Coconut's curriculum as the papers give them (docs: methods.md)."""
    _, nf = load(RECIPES / backbone / "nfcot.yaml")
    t = stage_trainers(nf)
    assert (t["stage1"].lr, t["stage1"].warmup_steps, t["stage1"].epochs) == (1e-4, 100, 1)
    assert (t["stage2"].lr, t["stage2"].warmup_steps, t["stage2"].epochs) == (5e-5, 200, 2)
    assert (t["rl"].lr, t["rl"].max_steps) == (3e-6, 150)
    mc = nf.method_config
    assert (mc.slots, mc.flow_blocks, mc.noise_std, mc.rl_group_size) == (64, 5, 0.3, 8)
    _, co = load(RECIPES / backbone / "coconut.yaml")
    c = co.method_config
    assert (c.c_thought, c.epochs_per_stage, c.max_latent_stage, c.num_epochs) == (2, 3, 3, 25)
    tc = stage_trainers(co)
    assert all(x.lr == 1e-4 and x.schedule == "constant" and x.weight_decay == 0.01 for x in tc.values())
    _, ls = load(RECIPES / backbone / "latent-sft.yaml")
    assert (ls.method_config.compression_rate, ls.method_config.top_k, ls.method_config.lora_rank) == (4, 10, 64)


def test_gradient_checkpointing_changes_memory_not_gradients():
    """The trainer's switch recomputes activations; the loss and every gradient stay what they were."""
    from nfbench.harness.backbone import load_backbone
    from nfbench.harness.trainer import enable_gradient_checkpointing

    def grads(checkpointing: bool):
        model = load_backbone("tiny-llama", device="cpu", seed=3).model.train()
        if checkpointing:
            assert enable_gradient_checkpointing(model) == 1 and all(layer.gradient_checkpointing for layer in model.model.layers)
        ids = torch.arange(2 * 24).reshape(2, 24) % 200 + 4
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        return loss.detach(), [p.grad for p in model.parameters()]

    (l0, g0), (l1, g1) = grads(False), grads(True)
    assert torch.allclose(l0, l1)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(g0, g1))


def nfbench(nfbench_cmd, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(nfbench_cmd + list(args), capture_output=True, text=True, timeout=600)


TINY = ["--set", "backbone=tiny-llama", "--set", "task=synth", "--set", "data=synth", "--set", "trainer.max_steps=2",
        "--set", "trainer.batch_size=2", "--set", "trainer.grad_accum=2", "--set", "trainer.eval_problems=0",
        "--set", "trainer.warmup_steps=0", "--set", "trainer.save_every=1000", "--set", "sandbox=local"]


def test_8b_cot_recipe_trains_on_cpu_with_the_tiny_model(nfbench_cmd, results_dir):
    """The 8B CoT recipe's settings (gradient checkpointing, accumulation, bf16-when-GPU) on CPU, with
    tiny-llama substituted: two optimizer steps, a checkpoint whose recorded trainer kept the recipe's."""
    import json

    proc = nfbench(nfbench_cmd, "train", "cot", "--config", str(RECIPES / "qwen3-8b" / "cot.yaml"), *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    done = next(results_dir.glob("checkpoints/cot/*/sft/stage_done.json"))
    record = json.loads(done.read_text())
    assert record["steps"] == 2 and record["trainer"]["gradient_checkpointing"] is True
    assert record["trainer"]["lr"] == 1e-5 and record["trainer"]["grad_accum"] == 2


def test_coconut_refuses_gradient_checkpointing(nfbench_cmd, results_dir):
    proc = nfbench(nfbench_cmd, "train", "coconut", "--config", str(RECIPES / "qwen3-8b" / "coconut.yaml"), *TINY,
                   "--init-from", "backbone", "--set", "trainer.gradient_checkpointing=true")
    assert proc.returncode == 2 and "gradient checkpointing drops" in proc.stderr and "Traceback" not in proc.stderr
    assert not list(results_dir.glob("checkpoints/coconut/*/stage1/*"))

"""Latent-SFT's stages: the three stage-1 phases (encoder, decoder, joint) and stage 2.

Each stage-1 phase continues the phase before (its encoder and decoder with their adapters, saved as
`weights.pt`) with a fresh optimizer; stage 2 starts a student from the finished decoder and learns the
encoder's latents (teacher.pt, computed once) with CE on the answer and KL to the teacher.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import torch

from nfbench.harness.stages import StageRun, Trained
from nfbench.methods.latent_sft import (COLLAPSE_PROBE, TEACHER, WEIGHTS, LatentSFTConfig, encode_examples,
                                        n_latents, special_ids)


def build_stage1(run: StageRun, config: LatentSFTConfig, previous: str | None) -> Any:
    """Stage 1's encoder and decoder: two LoRA-wrapped copies of the CoT model, continuing `previous`."""
    from nfbench.methods.latent_sft.stage1 import Stage1

    bb = run.ctx.backbone()
    train_k = config.top_k if config.stage1_top_k is None else config.stage1_top_k
    make = lambda: Stage1(bb.model, train_k, config.lora_rank, config.lora_alpha, config.lora_dropout,  # noqa: E731
                          config.superposition_scores)
    if previous is None:
        # the LoRA adapters are drawn from the global RNG, which torch seeds randomly per process:
        # without this, two identical runs differ (encoder loss 5.5391 vs 5.5404 after 5 steps)
        torch.manual_seed(run.ctx.config.seed)
        return make()
    # the fresh draws are overwritten by the phase before's weights: drawing them must not move the
    # global RNG, from which stage 2's student adapter is drawn
    with torch.random.fork_rng():
        stage1 = make()
    stage1.load_state_dict(torch.load(run.dir(previous) / WEIGHTS, map_location=bb.device))
    return stage1


def phase_trainer(config: LatentSFTConfig, phase: str, previous: str | None) -> Callable[[StageRun], Trained]:
    def train(run: StageRun) -> Trained:
        from nfbench.harness.trainer import Stage, train_stage
        from nfbench.methods.latent_sft.sequences import stage1_batch
        from nfbench.methods.latent_sft.stage2 import collapse_stats, teacher_latents

        bb, rate = run.ctx.backbone(), config.compression_rate
        sp = special_ids(bb, config)
        examples = encode_examples(run.ctx, bb)
        stage1 = build_stage1(run, config, previous)
        job = Stage(name=f"latent-sft-{phase}", out_dir=run.out, model=stage1.train(), dataset=examples,
                    collate=lambda exs: stage1_batch(exs, sp, rate),
                    loss_fn=lambda model, batch: (model(batch, sp.compress), {}),
                    config=run.trainer, params=stage1.set_phase(phase), seed=run.ctx.config.seed)
        result = train_stage(job)
        probe = teacher_latents(stage1, examples[:COLLAPSE_PROBE], sp, rate, config.top_k)  # is the encoder collapsing?
        return Trained(result.steps, result.last_metrics, save=lambda out: torch.save(stage1.state_dict(), out / WEIGHTS),
                       info=collapse_stats(probe))
    return train


def teachers_of(run: StageRun, stage1: Any, examples: list[Any], sp: Any, config: LatentSFTConfig) -> list[Any]:
    """The encoder's soft labels for every training example, computed once (kept for a resumed stage 2)."""
    from nfbench.harness.trainer import is_main_process
    from nfbench.methods.latent_sft.stage2 import teacher_latents

    path = run.out / "teacher" / TEACHER
    if path.is_file():
        return torch.load(path)
    teachers = teacher_latents(stage1, examples, sp, config.compression_rate, config.top_k)
    if is_main_process():
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(teachers, path.with_suffix(".tmp"))
        path.with_suffix(".tmp").replace(path)
    return teachers


def stage2_trainer(config: LatentSFTConfig) -> Callable[[StageRun], Trained]:
    def train(run: StageRun) -> Trained:
        import copy

        from nfbench.harness.trainer import Stage, train_stage
        from nfbench.methods.latent_sft.generate import LatentSFTGenerator
        from nfbench.methods.latent_sft.sequences import stage2_batch
        from nfbench.methods.latent_sft.stage1 import merged, trainable_params, with_lora
        from nfbench.methods.latent_sft.stage2 import collapse_stats, stage2_loss
        from nfbench.methods.text_stream import TextStream

        ctx, mc = run.ctx, config
        bb = ctx.backbone()
        sp = special_ids(bb, mc)
        examples = encode_examples(ctx, bb)
        stage1 = build_stage1(run, mc, "stage1-joint")
        teachers = teachers_of(run, stage1, examples, sp, mc)
        # the student must be able to rank </think> above eos (their head rows start as copies)
        student = with_lora(copy.deepcopy(merged(stage1.decoder)), mc.lora_rank, mc.lora_alpha, mc.lora_dropout,
                            embeddings=False, head_tokens=[sp.end_think])
        del stage1
        student.requires_grad_(False)
        params = trainable_params(student)
        for p in params:
            p.requires_grad_(True)

        def collate(items: list[tuple[Any, Any]]) -> dict[str, Any]:
            batch = stage2_batch([e for e, _ in items], [len(t[0]) for _, t in items], sp)
            batch["teachers"] = [t for _, t in items]
            return batch

        def loss_fn(model: Any, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
            return stage2_loss(model, batch, batch["teachers"], mc.ce_weight, mc.kl_weight)

        cap = max(4, 2 * max(n_latents(len(ex.cot), mc.compression_rate) for ex in examples))
        fmt = ctx.format(bb.tokenizer)
        validate = ctx.validator(run.trainer, lambda m: LatentSFTGenerator(TextStream(replace(bb, model=m), fmt), sp,
                                                                           mc.top_k, cap), mc.val_max_new_tokens)
        job = Stage(name="latent-sft-stage2", out_dir=run.out, model=student.train(), dataset=list(zip(examples, teachers)),
                    collate=collate, loss_fn=loss_fn, config=run.trainer, params=params, validate=validate,
                    seed=ctx.config.seed)
        result = train_stage(job)
        bb.model = merged(job.model).eval()

        def save(out: Path) -> None:
            bb.save(out, backbone=ctx.config.backbone)

        return Trained(result.steps, result.last_metrics, save=save, info=collapse_stats(teachers))
    return train

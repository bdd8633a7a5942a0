"""latent-sft: latent reasoning as a superposition over the vocabulary (Deng et al., arXiv 2510.15522;
reference code DJC-GO-SOLO/Latent-SFT).

Training starts from a CoT-SFT checkpoint. Stage 1 (stage1.py): a Latent Token Encoder reads the CoT
with a compress token after every `compression_rate` tokens under the induction mask; each compress
token's top-k vocabulary superposition replaces its chunk for the decoder, which continues the chain and
answers under the supervision mask (masks.py); the encoder, then the decoder, then both are trained
(LoRA adapters, one shared-trainer stage each, optimizer reset between them; the reference merges each
phase's adapter and starts a fresh one, here one adapter per model carries through the phases). Stage 2 (stage2.py): the
encoder is dropped and the decoder learns to emit those latents itself (CE on the answer + KL to the
encoder's top-k distributions). Inference (decode.py): soft top-k embeddings until the argmax is
`</think>`, then the answer from the same KV cache, batched.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from nfbench.harness.errors import UserError
from nfbench.harness.registry import register_method
from nfbench.harness.types import Generation, Problem
from nfbench.methods.text_sft import TextMethod

SPECIAL = ("<think>", "</think>", "<compress>")
PHASES = ("encoder", "decoder", "joint", "stage2")
STAGE_ALIASES = {"1": PHASES[:3], "stage1": PHASES[:3], "2": ("stage2",)}
WEIGHTS = "weights.pt"
TEACHER = "teacher.pt"
DEFAULT_MAX_LATENTS = 64
COLLAPSE_PROBE = 256  # training examples whose latents each stage-1 phase reports N_eff / distinct top-1 on


@dataclass
class LatentSFTConfig:
    compression_rate: int = 4  # CoT tokens per latent (the paper: 2-4 on GSM8k)
    top_k: int = 10  # vocabulary entries a latent superposes (the release; 0 = full softmax, as v1)
    # stage-1 training superposition (None: top_k). The reference's stage-1 training code mixes the
    # full vocabulary (0) and applies top-k=10 when it writes the stage-2 soft labels.
    stage1_top_k: int | None = None
    lora_rank: int = 64  # the reference's LoRA (alpha = 2 * rank); 0 = fine-tune every weight
    lora_alpha: float = 128.0
    lora_dropout: float = 0.1
    # optimizer steps per phase (None: trainer.epochs); learning rates (None: trainer.lr)
    encoder_steps: int | None = None
    decoder_steps: int | None = None
    joint_steps: int | None = None
    stage2_steps: int | None = None
    stage1_lr: float | None = None  # the reference: 1e-4 (stage 1), 3e-4 (stage 2)
    stage2_lr: float | None = None
    ce_weight: float = 1.0  # stage-2 loss weights (both 1.0 in the reference)
    kl_weight: float = 1.0
    require_cot_init: bool = True  # refuse to start from a raw backbone (the paper starts from SFT)
    init_token: str | None = None  # new tokens' embeddings copy this token's (None = eos)
    # the compress token's start (None: init_token). A CoT-model encoder reads each compress token as
    # this token, so its first latents are the CoT model's predictions after it: from the chain
    # separator they are the chain's digits, from eos they say nothing about the chain
    compress_init_token: str | None = None
    # inference
    max_latents: int | None = None  # latent steps before `</think>` is forced (None: 2x the most in training)
    val_max_new_tokens: int = 96
    zero_shot: bool = False  # (unused: Latent-SFT needs training; kept for the shared loader)
    answer_marker: str | None = None


@register_method("latent-sft")
class LatentSFTMethod(TextMethod):
    """Latent-SFT: latents are top-k vocabulary superpositions, taught by an encoder, then self-generated."""

    config_class = LatentSFTConfig
    requires_training = True
    reasons = True

    # --- tokens / formats -------------------------------------------------------------------------
    def special_ids(self) -> Any:
        from nfbench.methods.latent_sft.sequences import SpecialIds

        if getattr(self, "_ids", None) is None:
            from nfbench.harness.backbone import add_special_tokens

            think, end = add_special_tokens(self.backbone, list(SPECIAL[:2]), init_from=self.config.init_token)
            [compress] = add_special_tokens(self.backbone, [SPECIAL[2]],
                                            init_from=self.config.compress_init_token or self.config.init_token)
            self._ids = SpecialIds(think, end, compress, self.backbone.tokenizer.pad_token_id)
        return self._ids

    def _encode(self, text: str) -> list[int]:
        return self.backbone.tokenizer(text, add_special_tokens=False)["input_ids"]

    def encode_example(self, ex: Any) -> Any:
        """(prompt, CoT, answer + eos) ids in the CoT model's format (the CoT without its final newline)."""
        from nfbench.methods.latent_sft.sequences import Example

        answer = self.target_text(replace(ex, reasoning=""))
        return Example(self._prompt_ids(self.prompt_text(ex.prompt)), self._encode(ex.reasoning.strip()),
                       self._encode(answer) + [self.backbone.tokenizer.eos_token_id])

    # --- training ---------------------------------------------------------------------------------
    def weights_spec(self) -> str:
        """Training starts from the latest CoT-SFT checkpoint (required unless require_cot_init=false)."""
        cfg = self.run_config
        if self.training and not cfg.init_from:
            from nfbench.harness.checkpoints import latest_checkpoint, require_checkpoint

            find = require_checkpoint if self.config.require_cot_init else latest_checkpoint
            cot = find("cot", cfg.backbone)
            cfg.init_from = str(cot) if cot else None
        return super().weights_spec()

    def phases(self, stage: str | None) -> tuple[str, ...]:
        if stage is None:
            return PHASES
        chosen = STAGE_ALIASES.get(str(stage), (str(stage),))
        if not set(chosen) <= set(PHASES):
            raise UserError(f"latent-sft has no stage '{stage}'",
                            f"choose 1, 2 or one of: {', '.join(PHASES)}")
        return chosen

    def train(self, train_config: Any) -> Path:
        from nfbench.harness import checkpoints as ck
        from nfbench.harness.config import to_dict
        from nfbench.methods.latent_sft.stage1 import Stage1

        cfg, mc = train_config, self.config
        if mc.compression_rate < 1:
            raise UserError(f"compression_rate must be >= 1, got {mc.compression_rate}",
                            "set method_config.compression_rate to the CoT tokens per latent (e.g. 4)")
        wanted = self.phases(cfg.stage)
        bb = self.backbone  # the CoT checkpoint (init_from) or the raw backbone
        sp = self.special_ids()
        sft = self.load_examples(cfg)
        examples = [self.encode_example(e) for e in sft]
        if not any(ex.cot for ex in examples):
            raise UserError("latent-sft needs ground-truth reasoning to compress, and the training set has none",
                            "train on a task with reasoning (synth) or a CoT set from `nfbench data`")
        ckpt = ck.checkpoint_dir(self.name, cfg.name, cfg.out)
        cot_tokens = sum(len(ex.cot) for ex in examples) / len(examples)
        data = {"source": cfg.data, "n": len(sft), "sha256": ck.data_sha256(e.to_dict() for e in sft)}
        info = dict(method=self.name, backbone=cfg.backbone, train_config=to_dict(cfg), data=data,
                    init_from=cfg.init_from, special_tokens=dict(zip(("think", "end_think", "compress"), SPECIAL)),
                    compression_rate=mc.compression_rate, top_k=mc.top_k, mean_cot_tokens=cot_tokens,
                    max_latents=max(4, 2 * max(-(-len(ex.cot) // mc.compression_rate) for ex in examples)),
                    mean_latents=sum(-(-len(ex.cot) // mc.compression_rate) for ex in examples) / len(examples))
        ck.write_info(ckpt, complete=False, **info)
        self._train_max_latents = info["max_latents"]  # for validation during training
        begin, history = time.time(), []
        train_k = mc.top_k if mc.stage1_top_k is None else mc.stage1_top_k
        # the LoRA adapters are drawn from the global RNG, which torch seeds randomly per process:
        # without this, two identical runs differ (encoder loss 5.5391 vs 5.5404 after 5 steps)
        torch.manual_seed(cfg.seed)
        stage1 = Stage1(bb.model, train_k, mc.lora_rank, mc.lora_alpha, mc.lora_dropout)
        for phase in PHASES[:3]:
            self._load_if_done(stage1, ckpt / f"stage1-{phase}")
        for phase in [p for p in PHASES[:3] if p in wanted]:
            history.append(self._train_phase(stage1, phase, examples, sp, ckpt, cfg))
        if "stage2" not in wanted:
            return ckpt
        if not (ckpt / "stage1-joint" / WEIGHTS).is_file():
            raise UserError(f"stage 2 needs the finished stage 1 under {ckpt}",
                            f"run stage 1 first: nfbench train latent-sft --name {cfg.name} --stage 1")
        student, result = self._train_stage2(stage1, examples, sp, ckpt, cfg)
        history.append(result)
        bb.model = student.eval()
        bb.save(ckpt, backbone=cfg.backbone)
        ck.write_info(ckpt, complete=True, history=history, train_seconds=round(time.time() - begin, 1), **info)
        return ckpt

    @staticmethod
    def _load_if_done(stage1: Any, out: Path) -> None:
        if (out / "stage_done.json").is_file() and (out / WEIGHTS).is_file():
            stage1.load_state_dict(torch.load(out / WEIGHTS, map_location=stage1.vocab().device))

    def _train_phase(self, stage1: Any, phase: str, examples: list[Any], sp: Any, ckpt: Path, cfg: Any) -> dict[str, Any]:
        from nfbench.harness.trainer import Stage, train_stage
        from nfbench.methods.latent_sft.sequences import stage1_batch

        mc, out = self.config, ckpt / f"stage1-{phase}"
        k = mc.compression_rate
        params = stage1.set_phase(phase)
        trainer_cfg = replace(cfg.trainer, max_steps=getattr(mc, f"{phase}_steps"), lr=mc.stage1_lr or cfg.trainer.lr)
        job = Stage(name=f"latent-sft-{phase}", out_dir=out, model=stage1.train(), dataset=examples,
                    collate=lambda exs: stage1_batch(exs, sp, k),
                    loss_fn=lambda model, batch: (model(batch, sp.compress), {}),
                    config=trainer_cfg, params=params, seed=cfg.seed)
        result = train_stage(job)
        torch.save(stage1.state_dict(), out / WEIGHTS)
        from nfbench.methods.latent_sft.stage2 import collapse_stats, teacher_latents

        probe = teacher_latents(stage1, examples[:COLLAPSE_PROBE], sp, k, mc.top_k)  # is the encoder collapsing?
        stage1.train()
        return {"stage": phase, "steps": result.steps, **result.last_metrics, **collapse_stats(probe)}

    def _train_stage2(self, stage1: Any, examples: list[Any], sp: Any, ckpt: Path, cfg: Any) -> tuple[Any, dict[str, Any]]:
        import copy

        from nfbench.harness.trainer import Stage, train_stage
        from nfbench.methods.latent_sft.sequences import stage2_batch
        from nfbench.methods.latent_sft.stage1 import trainable_params, with_lora
        from nfbench.methods.latent_sft.stage2 import collapse_stats, stage2_loss, teacher_latents

        mc, out = self.config, ckpt / "stage2"
        out.mkdir(parents=True, exist_ok=True)
        if (out / TEACHER).is_file():
            teachers = torch.load(out / TEACHER)
        else:  # the encoder's soft labels for every training example, computed once
            teachers = teacher_latents(stage1, examples, sp, mc.compression_rate, mc.top_k)
            torch.save(teachers, out / TEACHER)
        decoder = stage1.decoder
        decoder = decoder.merge_and_unload() if hasattr(decoder, "merge_and_unload") else decoder
        # the student must be able to rank </think> above eos (their head rows start as copies)
        student = with_lora(copy.deepcopy(decoder), mc.lora_rank, mc.lora_alpha, mc.lora_dropout, embeddings=False,
                            head_tokens=[sp.end_think])
        del stage1
        for p in student.parameters():
            p.requires_grad_(False)
        params = trainable_params(student)
        for p in params:
            p.requires_grad_(True)
        rows = list(zip(examples, teachers))

        def collate(items: list[tuple[Any, Any]]) -> dict[str, Any]:
            batch = stage2_batch([e for e, _ in items], [len(t[0]) for _, t in items], sp)
            batch["teachers"] = [t for _, t in items]
            return batch

        def loss_fn(model: Any, batch: dict[str, Any]) -> tuple[torch.Tensor, dict[str, float]]:
            return stage2_loss(model, batch, batch["teachers"], mc.ce_weight, mc.kl_weight)

        self.backbone.model = student  # validation generates with the student
        trainer_cfg = replace(cfg.trainer, max_steps=mc.stage2_steps, lr=mc.stage2_lr or cfg.trainer.lr)
        job = Stage(name="latent-sft-stage2", out_dir=out, model=student.train(), dataset=rows, collate=collate,
                    loss_fn=loss_fn, config=trainer_cfg, params=params, validate=self.validator(cfg), seed=cfg.seed)
        result = train_stage(job)
        student = job.model
        student = student.merge_and_unload() if hasattr(student, "merge_and_unload") else student
        return student, {"stage": "stage2", "steps": result.steps, **result.last_metrics, **collapse_stats(teachers)}

    # --- generation -------------------------------------------------------------------------------
    def _generate_batch(self, jobs: list[tuple[Problem, int]], seed: int, max_new_tokens: int) -> list[Generation]:
        from nfbench.harness.generation import DecodeState, Sampling, decode, left_pad, make_generator
        from nfbench.methods.latent_sft.decode import (effective_compression_rate, effective_global_parallelism,
                                                       think)

        bb, tok, mc = self.backbone, self.backbone.tokenizer, self.config
        sp = self.special_ids()
        prompts = [self.prompt_text(self.problem_prompt(p)) for p, _ in jobs]
        prompt_ids, mask = left_pad([self._prompt_ids(p) for p in prompts], tok.pad_token_id, bb.device)
        meter = self.meter(len(jobs), phase="reasoning")
        state = DecodeState.empty(bb.model, len(jobs))
        cap = self.max_latents()
        logits, chains = think(bb.model, state, prompt_ids, mask, think_id=sp.think, end_think_id=sp.end_think,
                               top_k=mc.top_k, max_latents=cap, meter=meter)
        sampling = Sampling() if self.training else self.sampling()  # validation decodes greedily
        stop = {tok.eos_token_id} | ({tok.pad_token_id} if self.compact else set())
        tokens = decode(bb.model, state, logits, max_new_tokens=max_new_tokens, sampling=sampling,
                        stop_ids=stop, generator=make_generator(bb.device, seed), meter=meter)
        gens = []
        for (problem, idx), prompt, toks, cost, chain in zip(jobs, prompts, tokens, meter.results(), chains):
            m = len(chain.probs)
            reference = self._encode(self.reference_cot(problem))
            text = tok.decode(toks, skip_special_tokens=True)
            top1 = tok.decode([int(ids[0]) for ids in chain.ids])  # each latent's most likely token
            extra = {"latent_steps": m, "top_k": mc.top_k, "format": "compact" if self.compact else "chat",
                     "n_eff": effective_global_parallelism(chain.probs),
                     "effective_compression_rate": effective_compression_rate(chain.ids, reference, mc.top_k),
                     "compression_rate": len(reference) / m if m and reference else None,
                     "latent_top1": top1, "hit_max_latents": m >= cap}
            gens.append(Generation(task_id=problem.task_id, sample_idx=idx, prompt=prompt, raw_output=text,
                                   solution=self.solution(problem, text), reasoning=f"<{m} latents> {top1}",
                                   cost=cost, extra=extra))
        return gens

    def max_latents(self) -> int:
        from nfbench.harness.checkpoints import read_info

        if self.config.max_latents is not None:
            return self.config.max_latents
        if getattr(self, "_train_max_latents", None):
            return self._train_max_latents
        info = read_info(self.checkpoint) if self.checkpoint else None
        return int(info.get("max_latents", DEFAULT_MAX_LATENTS)) if info else DEFAULT_MAX_LATENTS

    def reference_cot(self, problem: Problem) -> str:
        """The explicit chain the latents are measured against (the task's ground truth, if any)."""
        if not problem.reasoning:
            return ""
        if self.compact and hasattr(self.task, "format_example"):
            return self.task.format_example(problem)[1].strip()
        return problem.reasoning.strip()

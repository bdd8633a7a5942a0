"""latent-sft: latent reasoning as a superposition over the vocabulary (Deng et al., arXiv 2510.15522;
reference code DJC-GO-SOLO/Latent-SFT).

Training starts from a CoT-SFT checkpoint. Stage 1 (stage1.py): a Latent Token Encoder reads the CoT
with a compress token after every `compression_rate` tokens under the induction mask; each compress
token's top-k vocabulary superposition replaces its chunk for the decoder, which continues the chain and
answers under the supervision mask (masks.py); the encoder, then the decoder, then both are trained
(stages stage1-encoder, stage1-decoder, stage1-joint: LoRA adapters, optimizer reset between them; the
reference merges each phase's adapter and starts a fresh one, here one adapter per model carries through
the phases). Stage 2 (stage2.py): the encoder is dropped and the decoder learns to emit those latents
itself (CE on the answer + KL to the encoder's top-k distributions). Inference (generate.py): soft top-k
embeddings until the argmax is `</think>`, then the answer from the same KV cache, batched.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nfbench.harness.config import StageSettings, option, stages_field
from nfbench.harness.errors import UserError
from nfbench.harness.registry import register_method
from nfbench.harness.stages import StageSpec, TrainContext
from nfbench.methods.base import BudgetKnob, Generator, Method, RunContext

SPECIAL = ("<think>", "</think>", "<compress>")
PHASES = ("encoder", "decoder", "joint")
SCORES = ("head", "embeddings")  # what scores a latent's vocabulary distribution (superposition_scores)
WEIGHTS = "weights.pt"  # a stage-1 phase's product: the encoder and decoder with their adapters
TEACHER = "teacher.pt"
DEFAULT_MAX_LATENTS = 64
COLLAPSE_PROBE = 256  # training examples whose latents each stage-1 phase reports N_eff / distinct top-1 on


@dataclass
class LatentSFTConfig:
    compression_rate: int = option(4, "CoT tokens per latent (the paper: 2-4 on GSM8k)")
    top_k: int = option(10, "vocabulary entries a latent superposes (the release; 0 = full softmax, as v1)")
    stage1_top_k: int | None = option(None, "stage-1 training superposition (None: top_k); the reference's stage-1 code mixes the full "
                "vocabulary (0) and applies top-k=10 when it writes the stage-2 soft labels")
    superposition_scores: str = option("head", "what scores the encoder's states over the vocabulary: head (the LM head) | "
                "embeddings (h @ W_in^T, the reference's). The same for a tied backbone (the reference's LLaMA-3.2-1B); "
                "nfbench defaults to the head because the untied tiny-llama scored against its input embeddings put "
                "every latent on one token (experiments/NOTES.md), and the head is what stage 2 and inference use")
    lora_rank: int = option(64, "the reference's LoRA (alpha = 2 x rank); 0 = every weight")
    lora_alpha: float = 128.0
    lora_dropout: float = 0.1
    ce_weight: float = option(1.0, "stage-2 loss weight of the answer CE (1.0 in the reference)")
    kl_weight: float = option(1.0, "stage-2 loss weight of the KL to the teacher (1.0)")
    init_token: str | None = option(None, "new tokens' embeddings copy this token's (None = eos)")
    compress_init_token: str | None = option(None, "the compress token's start (None: init_token). A CoT-model encoder reads each compress token as "
                "this token, so its first latents are the CoT model's predictions after it: from the chain "
                "separator they are the chain's digits, from eos they say nothing about the chain")
    max_latents: int | None = option(None, "latent steps before `</think>` is forced (None: 2x the most in training, checkpoint.json)")
    val_max_new_tokens: int = option(96, "tokens per validation sample while training")
    stages: dict[str, StageSettings] = stages_field()


def special_ids(backbone: Any, config: LatentSFTConfig) -> Any:
    """`<think>`, `</think>`, `<compress>` added to the backbone where missing (a checkpoint has them)."""
    from nfbench.harness.backbone import add_special_tokens
    from nfbench.methods.latent_sft.sequences import SpecialIds

    think, end = add_special_tokens(backbone, list(SPECIAL[:2]), init_from=config.init_token)
    [compress] = add_special_tokens(backbone, [SPECIAL[2]], init_from=config.compress_init_token or config.init_token)
    return SpecialIds(think, end, compress, backbone.tokenizer.pad_token_id)


def encode_examples(ctx: TrainContext, backbone: Any) -> list[Any]:
    """(prompt, CoT, answer + eos) ids in the CoT model's format (the CoT without its final newline)."""
    from nfbench.methods.latent_sft.sequences import Example

    fmt, tok = ctx.format(backbone.tokenizer), backbone.tokenizer
    enc = lambda text: tok(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    return [Example(fmt.example_prompt_ids(e), enc(e.reasoning.strip()), enc(fmt.answer_target(e)) + [tok.eos_token_id])
            for e in ctx.examples]


def n_latents(cot_tokens: int, rate: int) -> int:
    return -(-cot_tokens // rate)


@register_method("latent-sft")
class LatentSFT(Method):
    """Latent-SFT: latents are top-k vocabulary superpositions, taught by an encoder, then self-generated."""

    config_class = LatentSFTConfig
    starts_from = "cot"
    budget = BudgetKnob("max_latents", "latents (then `</think>` is forced)")

    def budget_note(self, info: dict[str, Any], value: int) -> str | None:
        mean = info.get("mean_latents")
        if mean is None or value >= float(mean):
            return None
        return (f"latent-sft trained on chains of {float(mean):.1f} latents on average (compression rate "
                f"{info.get('compression_rate')}), capped at {value}: `</think>` is forced before most chains end")

    def stages(self) -> list[StageSpec]:
        from nfbench.methods.latent_sft import train

        if self.config.superposition_scores not in SCORES:
            raise UserError(f"superposition_scores must be one of {', '.join(SCORES)}, got "
                            f"{self.config.superposition_scores!r}", "set method_config.superposition_scores to head or embeddings")
        if self.config.compression_rate < 1:
            raise UserError(f"compression_rate must be >= 1, got {self.config.compression_rate}",
                            "set method_config.compression_rate to the CoT tokens per latent (e.g. 4)")
        names = [f"stage1-{p}" for p in PHASES]
        specs = [StageSpec(name, train.phase_trainer(self.config, phase, names[i - 1] if i else None),
                           needs=("reasoning",) + ((names[i - 1],) if i else ()), produces="state")
                 for i, (name, phase) in enumerate(zip(names, PHASES))]
        return specs + [StageSpec("stage2", train.stage2_trainer(self.config), needs=("reasoning", names[-1]))]

    def checkpoint_info(self, ctx: TrainContext) -> dict[str, Any]:
        rate = self.config.compression_rate
        cot = [len(ex.cot) for ex in encode_examples(ctx, ctx.backbone())]
        return {"special_tokens": dict(zip(("think", "end_think", "compress"), SPECIAL)), "compression_rate": rate,
                "top_k": self.config.top_k, "mean_cot_tokens": sum(cot) / len(cot),
                "max_latents": max(4, 2 * max(n_latents(n, rate) for n in cot)),
                "mean_latents": sum(n_latents(n, rate) for n in cot) / len(cot)}

    def generator(self, ctx: RunContext) -> Generator:
        from nfbench.methods.latent_sft.generate import LatentSFTGenerator
        from nfbench.methods.text_stream import TextStream

        mc = self.config
        cap = mc.max_latents if mc.max_latents is not None else int(ctx.info.get("max_latents", DEFAULT_MAX_LATENTS))
        bb = ctx.load_backbone()
        return LatentSFTGenerator(TextStream(bb, ctx.format(bb.tokenizer), ctx.checkpoint), special_ids(bb, mc),
                                  mc.top_k, cap)

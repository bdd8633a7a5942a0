"""nfcot: latent reasoning with normalizing flows (NF-CoT, arXiv 2606.06447; see docs, methods.md s1-2).

A frozen CoT VAE (vae.py) distils each explicit chain of thought into K latent slots e; a shallow
TARFlow (flow.py) maps them to u = F(e; q); the backbone is the deep flow: an NF head (head.py) on
the position before each latent gives N(mu_i, sigma_i) of u_i, and proj(u_i) is that latent's input
embedding, all in one causal stream with the text (model.py). Decoding samples K latents and then
the answer through one KV cache and records exact log-likelihoods (decode.py, generate.py); latent
GRPO (rl.py) optimises them on sandbox rewards. Stages (train.py): vae -> stage1 -> stage2 -> rl.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nfbench.harness.config import StageSettings, TrainerOverrides, option, stages_field
from nfbench.harness.registry import register_method
from nfbench.harness.stages import StageSpec, TrainContext
from nfbench.methods.base import BudgetKnob, Generator, Method, RunContext


TOKENS_PER_SLOT = 6  # the paper: 64 latents replace ~385 CoT tokens
MAX_SLOTS = 64


@dataclass
class NFCoTConfig:
    # latent thoughts (paper: K = 64, D = 2560 for ~385-token CoTs on an 8B model, hidden size 4096);
    # left at None they follow the backbone and the data as the paper's do (`resolve_shapes`)
    slots: int | None = option(None, "K: latent steps = reasoning positions; None = the training CoTs' mean "
                                     f"tokens / {TOKENS_PER_SLOT} (the paper's ~385 / 64), at most {MAX_SLOTS}")
    dim: int | None = option(None, "D: dimension of a latent; None = 5/8 of the backbone's hidden size (the paper's 2560 / 4096)")
    # CoT VAE
    vae_width: int = 256
    vae_layers: int = 2
    vae_heads: int = 4
    vae_beta: float = option(0.01, "KL weight of the VAE loss")
    vae_chunked: bool = option(True, "slot i pools the i-th chunk of the CoT")
    vae_decoder: str = option("parallel", "parallel (all tokens from the slots at once) | causal")
    max_cot_tokens: int = option(512, "longer chains of thought are cut")
    # shallow flow F and NF head (paper: 5 MetaBlocks)
    flow_blocks: int = 5
    flow_width: int = 256
    flow_layers: int = 2
    flow_heads: int = 4
    head_width: int | None = option(None, "width of the NF head's MLP; None = the backbone's hidden size")
    noise_std: float = option(0.3, "noise augmentation of the (standardised) targets")
    # latent GRPO
    rl_group_size: int = option(8, "G: samples per problem")
    rl_clip_eps: float = 0.2
    rl_kl_coef: float = option(0.04, "weight of the k3 KL to the stage-2 policy")
    rl_t_z: float = option(1.0, "latent temperature of the rollouts (1.0: exactly the policy optimised)")
    rl_temperature: float = option(1.0, "answer temperature of the rollouts")
    rl_max_new_tokens: int = 64
    # decoding
    t_z: float | None = option(None, "latent temperature; None = 0.9 when sampling (temperature > 0), else 0 (greedy)")
    latent_steps: int | None = option(None, "K' latent steps at inference (`nfbench sweep`'s knob); None = the trained K")
    decode_thoughts: bool = option(True, "record each sample's latents as text, through F^-1 and the frozen VAE decoder "
                                         "(`nfbench inspect`; not charged to the sample's cost)")
    val_max_new_tokens: int = option(64, "tokens per validation sample while training")
    stages: dict[str, StageSettings] = stages_field()


@register_method("nfcot")
class NFCoT(Method):
    """NF-CoT: K latent thoughts sampled from a normalizing flow inside the backbone, then the answer."""

    config_class = NFCoTConfig
    starts_from = "cot"
    budget = BudgetKnob("latent_steps", "latent steps (K')")

    def budget_note(self, info: dict[str, Any], value: int) -> str | None:
        k = (info.get("train_config", {}).get("method_config") or {}).get("slots")
        if k is None or int(k) == value:
            return None
        if value < int(k):
            return (f"nfcot trained at K={k}, run at K'={value}: the answer follows the first {value} latents of a "
                    f"chain whose VAE spread the reasoning over {k} slots (the rest is never produced), and the "
                    "latents cannot be decoded to text (the shallow flow's inverse needs all K)")
        return (f"nfcot trained at K={k}, run at K'={value}: the NF head continues past the last trained slot "
                f"({value - int(k)} latents no target ever shaped); only the first K are decoded to text")

    def stages(self) -> list[StageSpec]:
        from nfbench.methods.nfcot import train

        c = self.config
        # trainer defaults: the paper's (stage 1 lr 1e-4, 100 warmup, 1 epoch; stage 2 lr 5e-5, 200 warmup,
        # 2 epochs; RL lr 3e-6, 150 steps)
        return [StageSpec("vae", train.vae_stage(c), needs=("reasoning",), produces="state",
                          trainer=TrainerOverrides(lr=1e-3, epochs=3)),
                StageSpec("stage1", train.stage1(c), needs=("vae",),
                          trainer=TrainerOverrides(lr=1e-4, warmup_steps=100, epochs=1)),
                StageSpec("stage2", train.stage2(c), needs=("vae", "stage1"),
                          trainer=TrainerOverrides(lr=5e-5, warmup_steps=200, epochs=2)),
                StageSpec("rl", train.rl_stage(c), needs=("vae", "stage2", "task", "sandbox"),
                          trainer=TrainerOverrides(lr=3e-6, warmup_steps=0, max_steps=150, batch_size=8))]

    def checkpoint_info(self, ctx: TrainContext) -> dict[str, Any]:
        """Runs before the first stage: fills in the shapes left to follow the backbone and the data
        (the stages read this config), and records them."""
        c = self.config
        bb = ctx.backbone()
        cot = [len(bb.tokenizer(e.reasoning, add_special_tokens=False)["input_ids"][:c.max_cot_tokens])
               for e in ctx.examples if e.reasoning]
        resolve_shapes(c, bb.model.config.hidden_size, sum(cot) / max(1, len(cot)))
        return {"latent_shape": {"slots": c.slots, "dim": c.dim, "head_width": c.head_width,
                                 "mean_cot_tokens": round(sum(cot) / max(1, len(cot)), 1)}}

    def generator(self, ctx: RunContext) -> Generator:
        from nfbench.methods.nfcot.generate import NFCoTGenerator

        return NFCoTGenerator.load(ctx, self.config)


def resolve_shapes(c: NFCoTConfig, hidden_size: int, mean_cot_tokens: float) -> None:
    """The paper's proportions where the config leaves a shape to the backbone and the data: K from
    the CoT length, D and the NF head's width from the hidden size (set values are kept)."""
    if c.slots is None:
        c.slots = max(1, min(MAX_SLOTS, round(mean_cot_tokens / TOKENS_PER_SLOT)))
    if c.dim is None:
        c.dim = max(1, hidden_size * 5 // 8)
    if c.head_width is None:
        c.head_width = hidden_size

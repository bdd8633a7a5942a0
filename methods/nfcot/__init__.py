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
from nfbench.harness.stages import StageSpec
from nfbench.methods.base import BudgetKnob, Generator, Method, RunContext


@dataclass
class NFCoTConfig:
    # latent thoughts (paper: K = 64, D = 2560 for ~385-token CoTs on an 8B model)
    slots: int = option(64, "K: latent steps = reasoning positions")
    dim: int = option(64, "D: dimension of a latent")
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
    head_width: int = 1024
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

    def generator(self, ctx: RunContext) -> Generator:
        from nfbench.methods.nfcot.generate import NFCoTGenerator

        return NFCoTGenerator.load(ctx, self.config)

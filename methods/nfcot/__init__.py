"""nfcot: latent reasoning with normalizing flows (NF-CoT, arXiv 2606.06447; see docs, methods.md s1-2).

A frozen CoT VAE (vae.py) distils each explicit chain of thought into K latent slots e; a shallow
TARFlow (flow.py) maps them to u = F(e; q); the backbone is the deep flow: an NF head (head.py) on
the position before each latent gives N(mu_i, sigma_i) of u_i, and proj(u_i) is that latent's input
embedding, all in one causal stream with the text (model.py). Decoding samples K latents and then
the answer through one KV cache and records exact log-likelihoods (decode.py); latent GRPO (rl.py)
optimises them on sandbox rewards. Stages: vae -> stage1 -> stage2 -> rl (train.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nfbench.harness.errors import UserError
from nfbench.harness.registry import register_method
from nfbench.harness.types import Generation, Problem
from nfbench.methods.base import BackboneMethod
from nfbench.methods.text_sft import TextMethod


@dataclass
class StageSchedule:
    """Per-stage overrides of the shared TrainerConfig (None = keep the run's `trainer` value)."""

    lr: float | None = None
    epochs: float | None = None
    max_steps: int | None = None
    batch_size: int | None = None
    warmup_steps: int | None = None
    eval_problems: int | None = None


@dataclass
class NFCoTConfig:
    # latent thoughts (paper: K = 64, D = 2560 for ~385-token CoTs on an 8B model)
    slots: int = 64  # K: latent steps = reasoning positions
    dim: int = 64  # D
    # CoT VAE
    vae_width: int = 256
    vae_layers: int = 2
    vae_heads: int = 4
    vae_beta: float = 0.01  # KL weight
    vae_chunked: bool = True  # slot i pools the i-th chunk of the CoT
    vae_decoder: str = "parallel"  # parallel (all tokens from the slots at once) | causal
    max_cot_tokens: int = 512
    # shallow flow F and NF head (paper: 5 MetaBlocks)
    flow_blocks: int = 5
    flow_width: int = 256
    flow_layers: int = 2
    flow_heads: int = 4
    head_width: int = 1024
    noise_std: float = 0.3  # noise augmentation of the targets
    # stages (paper: stage 1 lr 1e-4, 100 warmup, 1 epoch; stage 2 lr 5e-5, 200 warmup, 2 epochs;
    # RL lr 3e-6, 150 steps)
    stages: list[str] = field(default_factory=lambda: ["vae", "stage1", "stage2", "rl"])
    vae_trainer: StageSchedule = field(default_factory=lambda: StageSchedule(lr=1e-3, epochs=3))
    stage1_trainer: StageSchedule = field(default_factory=lambda: StageSchedule(lr=1e-4, warmup_steps=100, epochs=1))
    stage2_trainer: StageSchedule = field(default_factory=lambda: StageSchedule(lr=5e-5, warmup_steps=200, epochs=2))
    rl_trainer: StageSchedule = field(default_factory=lambda: StageSchedule(lr=3e-6, warmup_steps=0, max_steps=150,
                                                                            batch_size=8))
    # latent GRPO
    rl_group_size: int = 8
    rl_clip_eps: float = 0.2
    rl_kl_coef: float = 0.04
    rl_t_z: float = 1.0  # 1.0: samples from exactly the policy whose likelihood is optimised
    rl_temperature: float = 1.0
    rl_max_new_tokens: int = 64
    # decoding
    t_z: float | None = None  # latent temperature; None = 0.9 when sampling (temperature > 0), else 0 (greedy)
    decode_thoughts: bool = False  # render latents as text with F^-1 and the VAE decoder (diagnostics)
    val_max_new_tokens: int = 64
    zero_shot: bool = False  # (unused: NF-CoT always needs its trained modules)


@register_method("nfcot")
class NFCoTMethod(BackboneMethod):
    """NF-CoT: K latent thoughts sampled from a normalizing flow inside the backbone, then the answer."""

    config_class = NFCoTConfig
    requires_training = True

    def __init__(self, run_config: Any, method_config: Any, task: Any = None):
        super().__init__(run_config, method_config, task)
        self._model: Any = None
        self._thoughts: Any = None

    # --- model ----------------------------------------------------------------------------------
    @property
    def model(self) -> Any:
        """The NFCoTModel of the checkpoint (`nfbench run`) or of the stage being trained."""
        if self._model is None:
            from nfbench.methods.nfcot.train import load_model

            if self.training:
                raise UserError("NF-CoT has no model before stage 1", "run: nfbench train nfcot")
            self.weights_spec()  # resolves self.checkpoint (or raises naming `nfbench train nfcot`)
            bb, self._model, self.stats = load_model(self.checkpoint, self.run_config.device, self.run_config.dtype)
            self._backbone = bb
        return self._model

    def use_model(self, bb: Any, model: Any) -> None:
        self._backbone, self._model = bb, model

    def manifest_info(self) -> dict[str, Any]:
        self.model
        info = super().manifest_info()
        return {**info, "nfcot": {"slots": self._model.shape.slots, "dim": self._model.shape.dim,
                                  "extra_parameters": sum(p.numel() for n, p in self._model.named_parameters()
                                                          if not n.startswith("backbone."))}}

    # --- generation -----------------------------------------------------------------------------
    def settings(self, training: bool = False) -> Any:
        from nfbench.methods.nfcot.generate import DecodeSettings

        rc = self.run_config
        if training:  # validation while training: greedy latents and answer
            return DecodeSettings(0.0, 0.0, 1.0, self.config.val_max_new_tokens)
        temp = rc.temperature
        t_z = self.config.t_z if self.config.t_z is not None else (0.9 if temp > 0 else 0.0)
        return DecodeSettings(t_z, temp, rc.top_p, rc.max_new_tokens)

    def generate(self, problems: list[Problem], n: int, seed: int) -> list[Generation]:
        from nfbench.methods.nfcot.generate import generate_batch

        model, out = self.model, []
        thoughts = self.thought_renderer() if self.config.decode_thoughts else None
        for b, jobs in enumerate(self.sample_batches(problems, n, self.run_config.batch_size)):
            gens, _ = generate_batch(model, self.backbone.tokenizer, self.task, jobs, seed * 1009 + b,
                                     self.settings(), thoughts)
            out.extend(gens)
        return out

    def thought_renderer(self) -> Any:
        """latents -> text through F^-1 and the frozen VAE decoder (needs vae.pt in the checkpoint)."""
        from nfbench.methods.nfcot.train import VAE_FILE, load_vae

        path = Path(self.checkpoint) / VAE_FILE if self.checkpoint else None
        if path is None or not path.is_file():
            raise UserError("decode_thoughts needs the VAE in the checkpoint", f"no {VAE_FILE} in {self.checkpoint}")
        vae = load_vae(path, self.backbone.device)
        model, tok, stats = self._model, self.backbone.tokenizer, self.stats

        def render(latents: Any, prompt_ids: Any, prompt_mask: Any) -> list[str]:
            e = model.flow.reverse(latents.float(), model.prompt_condition(prompt_ids, prompt_mask))
            e = e * stats["target_std"].to(e.device) + stats["target_mean"].to(e.device)
            ids = vae.reconstruct(e, vae.cfg.max_len)
            return [tok.decode(row, skip_special_tokens=True).split("\n")[0] for row in ids.tolist()]

        return render

    # --- training -------------------------------------------------------------------------------
    load_examples = TextMethod.load_examples  # the same SFT records as `cot` (task or JSONL)

    def train(self, train_config: Any) -> Path:
        from nfbench.methods.nfcot.train import Pipeline

        return Pipeline(self, train_config).run()

    def validator(self, cfg: Any, n_problems: int) -> Any:
        """Greedy pass@1 through the sandbox on the first `n_problems` validation problems."""
        if self.task is None or "validation" not in self.task.splits() or n_problems <= 0:
            return None
        problems = self.task.problems("validation")[:n_problems]

        def validate(model: Any) -> dict[str, float]:
            from nfbench.harness.trainer import sandbox_pass_at_1
            from nfbench.methods.nfcot.generate import generate_batch

            gens = []
            for jobs in self.sample_batches(problems, 1, 64):
                gens += generate_batch(model, self.backbone.tokenizer, self.task, jobs, 0, self.settings(True))[0]
            return sandbox_pass_at_1(problems, gens, cfg.sandbox)

        return validate

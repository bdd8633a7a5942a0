"""From problems to `Generation` records: batched NF-CoT decoding, cost, likelihoods.

Used by `nfbench run` and by the validation / RL rollouts during training (the same code path).
Prompts and programs go through the prompt format, as for every text method.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from nfbench.harness.batching import pad
from nfbench.harness.cost import CostMeter
from nfbench.harness.errors import UserError
from nfbench.harness.types import Generation
from nfbench.methods.base import Decoding, Generator, Job, RunContext
from nfbench.methods.nfcot.decode import DecodeOutput, sample
from nfbench.methods.nfcot.model import NFCoTModel
from nfbench.methods.prompt_format import PromptFormat

Renderer = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], list[str]]  # (latents, prompt ids, mask) -> texts


@dataclass
class DecodeSettings:
    t_z: float  # latent temperature (0 = greedy latents, the NF head's means)
    temperature: float  # answer temperature (0 = greedy)
    top_p: float
    max_new_tokens: int
    slots: int | None = None  # K' latent steps (None: the trained K)


@torch.no_grad()
def generate_batch(model: NFCoTModel, fmt: PromptFormat, jobs: list[Job], seed: int, settings: DecodeSettings,
                   thoughts: Renderer | None = None) -> tuple[list[Generation], DecodeOutput]:
    """One batch of (problem, sample_idx) jobs; `thoughts` optionally renders the latents as text
    (diagnostics, not charged to the sample's cost)."""
    tok = fmt.tokenizer
    device = next(model.parameters()).device
    prompts = [fmt.prompt(fmt.statement(p)) for p, _ in jobs]
    ids, mask = pad([fmt.prompt_ids(t) for t in prompts], tok.pad_token_id, "left", device)
    meter = CostMeter(model.backbone.config, len(jobs), device, next(model.backbone.parameters()).dtype)
    out = sample(model, ids, mask, t_z=settings.t_z, temperature=settings.temperature, top_p=settings.top_p,
                 max_new_tokens=settings.max_new_tokens, stop_ids=fmt.stop_ids, pad_id=tok.pad_token_id,
                 generator=torch.Generator().manual_seed(seed), meter=meter, slots=settings.slots)
    k = out.latents.shape[1]
    # F^-1 maps all K slots at once (its blocks alternate the slot order), so only a full chain has text
    rendered = thoughts(out.latents[:, :model.shape.slots], ids, mask) if thoughts and k >= model.shape.slots \
        else [None] * len(jobs)
    gens = []
    for i, ((problem, idx), text, cost) in enumerate(zip(jobs, prompts, meter.results())):
        answer = tok.decode(out.answer_ids[i], skip_special_tokens=True)
        latent_lp = out.latent_logp[i]
        gens.append(Generation(
            task_id=problem.task_id, sample_idx=idx, prompt=text, raw_output=answer,
            solution=fmt.program(problem, answer),
            reasoning=None if rendered[i] is None else f"[{k} latent thoughts] {rendered[i]}",
            cost=cost,
            extra={"latent_logp": float(latent_lp.sum()), "answer_logp": float(sum(out.answer_logp[i])),
                   "latent_logp_per_step": [round(float(x), 4) for x in latent_lp],
                   "latent_steps": k, "trained_latent_steps": model.shape.slots, "latent_dim": model.shape.dim,
                   "t_z": settings.t_z, "stopped": out.stopped[i], "format": fmt.kind,
                   **({} if rendered[i] is None else {"decoded_thoughts": rendered[i]})}))
    return gens, out


class NFCoTGenerator(Generator):
    def __init__(self, backbone: Any, model: NFCoTModel, fmt: PromptFormat, t_z: float | None,
                 checkpoint: Path | None = None, thoughts: Renderer | None = None, slots: int | None = None):
        self.backbone, self.model, self.fmt, self.t_z = backbone, model, fmt, t_z
        self.checkpoint, self.thoughts, self.slots = checkpoint, thoughts, slots

    @classmethod
    def load(cls, ctx: RunContext, config: Any) -> NFCoTGenerator:
        """The NF-CoT checkpoint `ctx` names (the backbone plus nfcot.pt, and vae.pt for decode_thoughts)."""
        from nfbench.methods.nfcot.train import VAE_FILE, load_model, load_vae

        bb, model, stats = ctx.load("nfcot", lambda: load_model(Path(ctx.weights), ctx.device, ctx.dtype))
        thoughts = None
        if config.decode_thoughts:
            path = Path(ctx.weights) / VAE_FILE
            if not path.is_file():
                raise UserError(f"decode_thoughts needs the VAE in the checkpoint: no {VAE_FILE} in {ctx.weights}",
                                "set method_config.decode_thoughts=false")
            thoughts = renderer(model, ctx.load("nfcot-vae", lambda: load_vae(path, bb.device)), bb.tokenizer, stats)
        if config.latent_steps is not None and config.latent_steps < 1:
            raise UserError(f"method_config.latent_steps={config.latent_steps}", "use at least 1 latent step")
        return cls(bb, model, ctx.format(bb.tokenizer, True), config.t_z, ctx.checkpoint, thoughts, config.latent_steps)

    def manifest_info(self) -> dict[str, Any]:
        extra = sum(p.numel() for n, p in self.model.named_parameters() if not n.startswith("backbone."))
        return {**self.backbone.manifest_info(), "checkpoint": str(self.checkpoint) if self.checkpoint else None,
                "nfcot": {"slots": self.model.shape.slots, "dim": self.model.shape.dim, "extra_parameters": extra}}

    def generate(self, jobs: list[Job], seed: int, decoding: Decoding) -> list[Generation]:
        t_z = self.t_z if self.t_z is not None else (0.9 if decoding.temperature > 0 else 0.0)
        settings = DecodeSettings(t_z, decoding.temperature, decoding.top_p, decoding.max_new_tokens, self.slots)
        return generate_batch(self.model, self.fmt, jobs, seed, settings, self.thoughts)[0]


def renderer(model: NFCoTModel, vae: Any, tokenizer: Any, stats: dict[str, torch.Tensor]) -> Renderer:
    """latents -> text through F^-1 and the frozen VAE decoder."""

    def render(latents: torch.Tensor, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor) -> list[str]:
        e = model.flow.reverse(latents.float(), model.prompt_condition(prompt_ids, prompt_mask))
        e = e * stats["target_std"].to(e.device) + stats["target_mean"].to(e.device)
        ids = vae.reconstruct(e, vae.cfg.max_len)
        return [tokenizer.decode(row, skip_special_tokens=True).split("\n")[0] for row in ids.tolist()]

    return render

"""Latent GRPO: policy gradient over (latents, answer) with the exact NF-CoT likelihoods.

Per optimizer step: B training problems x G samples each (latents with the NF head, answer with the
LM head; every action's log-likelihood recorded while sampling), reward = the sandbox's unit-test
verdict, group-normalised advantage A = (R - mean_G) / (std_G + eps). The loss re-scores the same
samples teacher-forced (with gradients) and applies, per action (each latent u_i and each answer
token), the PPO-clipped ratio exp(clip(new - old, -20, 20)) and a k3 KL penalty to the frozen
reference policy (the stage-2 model). The shallow flow is not part of the policy and stays frozen.
Runs as a shared-trainer stage (dataset = training problems), so it logs and resumes like the others;
its rewards come from the training's one sandbox.
"""
from __future__ import annotations

import zlib
from dataclasses import replace
from typing import Any

import torch

from nfbench.harness.stages import StageRun
from nfbench.harness.types import Problem
from nfbench.methods.nfcot.decode import answer_batch
from nfbench.methods.nfcot.generate import DecodeSettings, generate_batch
from nfbench.methods.nfcot.model import NFCoTModel, StreamBatch
from nfbench.methods.prompt_format import PromptFormat


def group_advantages(rewards: torch.Tensor, group: int, eps: float = 1e-4) -> torch.Tensor:
    """(B*G,) rewards, groups contiguous -> (R - group mean) / (group std + eps)."""
    r = rewards.view(-1, group)
    return ((r - r.mean(1, keepdim=True)) / (r.std(1, keepdim=True, unbiased=False) + eps)).view(-1)


def grpo_objective(new: torch.Tensor, old: torch.Tensor, ref: torch.Tensor, mask: torch.Tensor,
                   adv: torch.Tensor, clip_eps: float, kl_coef: float) -> tuple[torch.Tensor, dict[str, float]]:
    """Per-action log-likelihoods (N, T) with a mask; advantages (N,). Mean over each sample's actions,
    then over samples (GRPO's sequence-level normalisation)."""
    ratio = torch.exp(torch.clamp(new - old, -20.0, 20.0))
    a = adv[:, None]
    surrogate = torch.minimum(ratio * a, torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * a)
    log_ref_ratio = torch.clamp(ref - new, -20.0, 20.0)
    kl = torch.exp(log_ref_ratio) - log_ref_ratio - 1  # k3 estimator of KL(pi || ref), >= 0
    per_action = -(surrogate - kl_coef * kl)
    m = mask.float()
    loss = ((per_action * m).sum(1) / m.sum(1).clamp(min=1)).mean()
    clipped = ((ratio.detach() - 1).abs() > clip_eps).float()
    kl_mean = (kl.detach() * m).sum() / m.sum()
    return loss, {"kl": float(kl_mean), "clip_frac": float((clipped * m).sum() / m.sum())}


def rollout_loss(model: NFCoTModel, policy: Any, ref: NFCoTModel, mc: Any, fmt: PromptFormat, problems: list[Problem],
                 seed: int, sandbox: Any) -> tuple[torch.Tensor, dict[str, float]]:
    """One GRPO step's loss; `policy` is what the trainer passes (possibly DDP-wrapped `model`)."""
    g = mc.rl_group_size
    jobs = [(p, s) for p in problems for s in range(g)]
    settings = DecodeSettings(t_z=mc.rl_t_z, temperature=mc.rl_temperature, top_p=1.0,
                              max_new_tokens=mc.rl_max_new_tokens)
    was_training = model.training
    model.eval()
    gens, out = generate_batch(model, fmt, jobs, seed, settings)
    model.train(was_training)
    verdicts = {(v.task_id, v.sample_idx): v for v in sandbox.execute(
        (p, s, gen.solution) for (p, s), gen in zip(jobs, gens))}
    rewards = torch.tensor([float(verdicts[(p.task_id, s)].base_status == "pass") for p, s in jobs])

    dev = next(model.parameters()).device
    ids, mask = answer_batch(out.answer_ids, fmt.tokenizer.pad_token_id, dev)
    batch = StreamBatch(out.prompt_ids.to(dev), out.prompt_mask.to(dev), ids, mask)
    latents = out.latents.detach()
    new_lat, new_tok = policy(batch, latents)
    with torch.no_grad():
        ref_lat, ref_tok = ref(batch, latents)
    old_tok = torch.zeros_like(new_tok)
    for i, lp in enumerate(out.answer_logp):
        old_tok[i, : len(lp)] = torch.tensor(lp, device=dev)
    # actions: K latents then the answer tokens
    new = torch.cat([new_lat, new_tok], 1)
    old = torch.cat([out.latent_logp.to(dev), old_tok], 1)
    refs = torch.cat([ref_lat, ref_tok], 1)
    act_mask = torch.cat([torch.ones_like(new_lat, dtype=torch.long), mask], 1)
    adv = group_advantages(rewards, g).to(dev)
    loss, metrics = grpo_objective(new, old, refs, act_mask, adv, mc.rl_clip_eps, mc.rl_kl_coef)
    return loss, {"reward": float(rewards.mean()), "adv_nonzero": float((adv.abs() > 0).float().mean()), **metrics}


def run_rl(run: StageRun, mc: Any, bb: Any, model: NFCoTModel, ref: NFCoTModel) -> tuple[int, dict[str, float], NFCoTModel]:
    """The RL stage through the shared trainer (dataset = the task's training problems); returns
    (steps, last metrics, the trained policy)."""
    from nfbench.harness.trainer import Stage, train_stage
    from nfbench.methods.nfcot.generate import NFCoTGenerator

    ctx = run.ctx
    problems = ctx.task.problems("train")
    model.flow.requires_grad_(False)  # shallow blocks frozen (not part of the policy anyway)
    ref.requires_grad_(False).eval()
    fmt = ctx.format(bb.tokenizer)

    def loss_fn(policy: Any, batch: list[Problem]) -> tuple[torch.Tensor, dict[str, float]]:
        # the rollout seed follows the batch, so a resumed run samples what it would have
        seed = zlib.crc32("|".join(p.task_id for p in batch).encode()) + ctx.config.seed
        return rollout_loss(model, policy, ref, mc, fmt, batch, seed, ctx.sandbox)

    validate = ctx.validator(run.trainer, lambda m: NFCoTGenerator(replace(bb, model=m.backbone), m, fmt, mc.t_z),
                             mc.val_max_new_tokens)
    stage = Stage(name="nfcot-rl", out_dir=run.out, model=model.train(), dataset=problems,
                  collate=lambda rows: rows, loss_fn=loss_fn, config=run.trainer,
                  params=[p for p in model.parameters() if p.requires_grad], validate=validate, seed=ctx.config.seed)
    result = train_stage(stage)
    return result.steps, result.last_metrics, stage.model

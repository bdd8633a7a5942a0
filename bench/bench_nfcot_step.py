"""NF-CoT decoding cost: one latent step vs one text-token step, and wall time per sample vs `cot`.

1. Step cost (no checkpoint needed; weights do not change the cost): from the same KV-cached
   prefix, a *latent step* = NF head on the last hidden state -> sample u -> proj(u) -> one backbone
   position; a *text step* (the baseline) = LM head -> sample a token -> embedding -> one backbone
   position. Batched (default 8 rows), best of several repeats. Target: latent / text <= 1.15.
2. Per-sample wall time (needs trained checkpoints, e.g. from `nfbench train cot` and
   `nfbench train nfcot`): both methods generate for the same synth test problems through their
   `generate()`; printed with mean reasoning positions. Skipped with a note if either is missing.

    flock /tmp/nfbench-heavy.lock nice .venv/bin/python bench/bench_nfcot_step.py [--backbone smollm2-135m]
"""
from __future__ import annotations

import argparse
import time
from typing import Any, Callable

import torch

from nfbench.harness.backbone import load_backbone
from nfbench.harness.generation import Sampling, sample_next
from nfbench.harness.batching import positions
from nfbench.methods.nfcot.model import FlowShape, NFCoTModel


def _prefix(model: NFCoTModel, batch: int, prompt: int) -> tuple[Any, torch.Tensor, torch.Tensor]:
    from transformers import DynamicCache

    dev = next(model.parameters()).device
    ids = torch.randint(5, min(90, model.backbone.config.vocab_size), (batch, prompt), device=dev)
    mask = torch.ones_like(ids)
    h, past = model.run(model.token_embeds(ids), mask, positions(mask), DynamicCache())
    return past, mask, h[:, -1]


@torch.no_grad()
def step_seconds(model: NFCoTModel, kind: str, steps: int, batch: int, prompt: int) -> float:
    """Seconds per step over `steps` consecutive cached steps of one kind."""
    import copy

    past, mask, h = _prefix(model, batch, prompt)
    past = copy.deepcopy(past)
    gen = torch.Generator().manual_seed(0)
    lm_head = model.backbone.get_output_embeddings()
    start = time.perf_counter()
    for _ in range(steps):
        if kind == "latent":
            mu, sigma = model.head(h)
            u = mu + 0.9 * sigma * torch.randn(mu.shape, generator=gen).to(mu.device)
            x = model.embed.latents(u)
        else:
            logits = lm_head(h).float()
            tok = sample_next(logits, Sampling(0.6, 1.0), gen)
            x = model.token_embeds(tok)
        mask = torch.cat([mask, mask.new_ones(batch, 1)], 1)
        out, past = model.run(x[:, None], mask, positions(mask)[:, -1:], past)
        h = out[:, -1]
    if h.device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def best_of(repeats: int, fn: Callable[[], float]) -> float:
    return min(fn() for _ in range(repeats))


def step_cost(args: argparse.Namespace) -> None:
    bb = load_backbone(args.backbone, seed=0)
    torch.manual_seed(0)
    shape = FlowShape(slots=args.slots, dim=args.dim, head_width=args.head_width)
    model = NFCoTModel(bb.model, shape).to(bb.device).eval()
    best = {kind: float("inf") for kind in ("text", "latent")}
    for _ in range(args.repeats):  # interleaved, so that machine noise hits both alike
        for kind in best:
            best[kind] = min(best[kind], step_seconds(model, kind, args.steps, args.batch, args.prompt))
    cfg = bb.model.config
    print(f"[step cost] backbone={args.backbone} (hidden {cfg.hidden_size}, vocab {cfg.vocab_size}) "
          f"device={bb.device} batch={args.batch} prompt={args.prompt} steps={args.steps} "
          f"NF head D={args.dim} width={args.head_width} (best of {args.repeats})")
    print(f"text-token step (baseline): {best['text'] * 1e3:.3f} ms")
    print(f"latent step (NF head):      {best['latent'] * 1e3:.3f} ms")
    ratio = best["latent"] / best["text"]
    print(f"latent / text step cost: {ratio:.3f}x (target <= 1.15x: {'met' if ratio <= 1.15 else 'NOT met'})")


def per_sample(args: argparse.Namespace) -> None:
    from nfbench.harness.checkpoints import latest_checkpoint
    from nfbench.harness.config import RunConfig, load_config
    from nfbench.harness.pipeline import decoding, open_generator
    from nfbench.harness.registry import get_task
    from nfbench.methods.base import generate

    ckpts = {m: getattr(args, f"{m}_checkpoint") or latest_checkpoint(m, "tiny-llama") for m in ("cot", "nfcot")}
    missing = [m for m, c in ckpts.items() if c is None]
    if missing:
        print(f"[per sample] skipped: no trained {', '.join(missing)} checkpoint "
              f"(nfbench train {missing[0]} --config ci/configs/{missing[0]}.yaml, or pass --{missing[0]}-checkpoint)")
        return
    task = get_task("synth")(None, steps=args.synth_steps)
    problems = task.problems("test")[: args.problems]
    stats = {}
    for method in ("cot", "nfcot"):
        cfg = load_config(RunConfig, None, {"method": method, "task": "synth", "backbone": "tiny-llama",
                                            "checkpoint": str(ckpts[method]), "temperature": 0.0,
                                            "max_new_tokens": 96, "batch_size": args.batch})
        generator = open_generator(cfg, task)
        generate(generator, problems[: args.batch], 1, 0, decoding(cfg))  # warm-up (loading, first-call overheads)
        start = time.perf_counter()
        gens = generate(generator, problems, 1, 0, decoding(cfg))
        wall = (time.perf_counter() - start) / len(gens)
        rp = sum(g.cost.reasoning_positions for g in gens) / len(gens)
        stats[method] = (wall, rp)
        print(f"[per sample] {method:6s}: {wall * 1e3:.2f} ms/sample wall, {rp:.1f} reasoning positions "
              f"({len(gens)} synth problems, batch {args.batch}, greedy)")
    print(f"nfcot / cot wall time per sample: {stats['nfcot'][0] / stats['cot'][0]:.3f}x; "
          f"reasoning positions {stats['nfcot'][1] / max(stats['cot'][1], 1e-9):.3f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="tiny-llama")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--prompt", type=int, default=64)
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--slots", type=int, default=64)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--head-width", type=int, default=1024)
    ap.add_argument("--problems", type=int, default=64)
    ap.add_argument("--synth-steps", type=int, default=4)
    ap.add_argument("--cot-checkpoint", default=None)
    ap.add_argument("--nfcot-checkpoint", default=None)
    ap.add_argument("--skip-per-sample", action="store_true")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    step_cost(args)
    if not args.skip_per_sample:
        per_sample(args)


if __name__ == "__main__":
    main()

"""KV-cache decoding speed vs full recomputation, at 256 new tokens (greedy, batch 1).

Baseline: `greedy_no_cache` (the whole sequence re-run for every new token), measured in the same
run on the same model and prompt; also checks both produce the same tokens. Run under the heavy lock:

    flock /tmp/nfbench-heavy.lock nice .venv/bin/python bench/bench_kv_cache.py [--backbone tiny-llama]
"""
from __future__ import annotations

import argparse
import time

import torch

from nfbench.harness.backbone import load_backbone
from nfbench.harness.generation import generate_ids, greedy_no_cache


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backbone", default="tiny-llama")
    ap.add_argument("--new-tokens", type=int, default=256)
    ap.add_argument("--prompt-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    bb = load_backbone(args.backbone, seed=0)
    torch.manual_seed(0)
    prompt = torch.randint(5, min(90, bb.model.config.vocab_size), (args.prompt_tokens,)).tolist()

    def timed(fn) -> tuple[float, list[int]]:
        best, out = float("inf"), []
        for _ in range(args.repeats):
            start = time.perf_counter()
            out = fn()
            best = min(best, time.perf_counter() - start)
        return best, out

    # no stop tokens: both decode exactly new_tokens tokens
    cached_s, cached = timed(lambda: generate_ids(bb.model, [prompt], bb.tokenizer.pad_token_id,
                                                  max_new_tokens=args.new_tokens)[0])
    full_s, full = timed(lambda: greedy_no_cache(bb.model, prompt, args.new_tokens))
    print(f"backbone={args.backbone} device={bb.device} prompt={args.prompt_tokens} new_tokens={args.new_tokens} "
          f"(best of {args.repeats})")
    print(f"no-cache (baseline): {full_s:.3f} s  {args.new_tokens / full_s:.1f} tok/s")
    print(f"kv-cache:            {cached_s:.3f} s  {args.new_tokens / cached_s:.1f} tok/s")
    print(f"speed ratio kv-cache / no-cache: {full_s / cached_s:.2f}x")
    print(f"identical tokens: {cached == full}")


if __name__ == "__main__":
    main()

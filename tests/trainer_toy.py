"""A toy language-modelling stage on the tiny Llama, shared by the trainer tests and the DDP script."""
from __future__ import annotations

import random
from pathlib import Path

import torch

from nfbench.harness.backbone import load_backbone
from nfbench.harness.config import TrainerConfig
from nfbench.harness.trainer import Stage


def toy_stage(out_dir: Path, cfg: TrainerConfig, crash_at_batch: int | None = None) -> Stage:
    """Equal-length digit strings (so per-process mean losses average to the global mean)."""
    bb = load_backbone("tiny-llama", device="cpu", seed=0)
    rng = random.Random(0)
    texts = ["".join(rng.choice("0123456789+=") for _ in range(24)) for _ in range(64)]
    data = [bb.tokenizer(t)["input_ids"] for t in texts]
    seen = {"batches": 0}

    def collate(rows: list[list[int]]) -> torch.Tensor:
        return torch.tensor(rows)

    def loss_fn(model: torch.nn.Module, ids: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        seen["batches"] += 1
        if crash_at_batch is not None and seen["batches"] == crash_at_batch:
            raise KeyboardInterrupt("simulated interruption")
        out = model(input_ids=ids, labels=ids)
        return out.loss, {"tokens": float(ids.numel())}

    return Stage(name="toy", out_dir=out_dir, model=bb.model.train(), dataset=data, collate=collate,
                 loss_fn=loss_fn, config=cfg, seed=0)

"""Token-level SFT batches: prompt + target ids with the loss masked on the prompt, right-padded."""
from __future__ import annotations

from typing import Any, Callable

import torch

IGNORE = -100  # label value the loss skips


def encode(tokenizer: Any, prompt_ids: list[int], target: str, eos: bool = True) -> dict[str, list[int]]:
    """prompt ids (already formatted) + target text (+ eos): labels only on the target."""
    target_ids = tokenizer(target, add_special_tokens=False)["input_ids"] + ([tokenizer.eos_token_id] if eos else [])
    return {"input_ids": prompt_ids + target_ids, "labels": [IGNORE] * len(prompt_ids) + target_ids}


def pad_collate(pad_id: int, max_len: int | None = None) -> Callable[[list[dict[str, list[int]]]], dict[str, torch.Tensor]]:
    """Right-pad a list of encoded examples (training needs no left padding: no cache, no generation)."""

    def collate(rows: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        rows = [{k: v[:max_len] for k, v in r.items()} for r in rows] if max_len else rows
        width = max(len(r["input_ids"]) for r in rows)
        ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            n = len(r["input_ids"])
            ids[i, :n] = torch.tensor(r["input_ids"])
            labels[i, :n] = torch.tensor(r["labels"])
            mask[i, :n] = 1
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    return collate


def causal_lm_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean next-token cross-entropy over the labelled (target) tokens."""
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
    return out.loss, {"target_tokens": float((batch["labels"] != IGNORE).sum())}

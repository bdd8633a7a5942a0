"""Batches of token ids: padding (left for generation, right for training), position ids, and SFT
examples whose loss is masked on the prompt. Every method pads through here."""
from __future__ import annotations

from typing import Any, Callable, Literal

import torch

IGNORE = -100  # label value the loss skips (prompt, latent slots, padding)


def pad(rows: list[list[int]], pad_id: int, side: Literal["left", "right"] = "right",
        device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Token lists -> (ids [B, T], mask [B, T], 1 = real). Left padding lines up the last positions
    (generation continues from there); right padding lines up the first (training, teacher forcing)."""
    width = max(1, max(len(r) for r in rows))
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        if r:
            cols = slice(width - len(r), width) if side == "left" else slice(0, len(r))
            ids[i, cols] = torch.tensor(r, dtype=torch.long)
            mask[i, cols] = 1
    return (ids, mask) if device is None else (ids.to(device), mask.to(device))


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids that skip left padding: a row's first real token is position 0."""
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def encode(tokenizer: Any, prompt_ids: list[int], target: str, eos: bool = True) -> dict[str, list[int]]:
    """prompt ids (already formatted) + target text (+ eos): labels only on the target."""
    target_ids = tokenizer(target, add_special_tokens=False)["input_ids"] + ([tokenizer.eos_token_id] if eos else [])
    return {"input_ids": prompt_ids + target_ids, "labels": [IGNORE] * len(prompt_ids) + target_ids}


def pad_collate(pad_id: int) -> Callable[[list[dict[str, list[int]]]], dict[str, torch.Tensor]]:
    """Right-pad encoded examples (training needs no left padding: no cache, no generation)."""

    def collate(rows: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        ids, mask = pad([r["input_ids"] for r in rows], pad_id)
        labels, _ = pad([r["labels"] for r in rows], IGNORE)
        return {"input_ids": ids, "labels": labels, "attention_mask": mask}

    return collate


def causal_lm_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
    """Mean next-token cross-entropy over the labelled (target) tokens."""
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
    return out.loss, {"target_tokens": float((batch["labels"] != IGNORE).sum())}

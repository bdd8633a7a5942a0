"""Stage 1: a Latent Token Encoder turns CoT chunks into vocabulary superpositions that let the
decoder continue the chain and answer.

Encoder and decoder are two copies of the base LLM, each with its own LoRA adapter (the encoder's also
on the input embeddings, as in the reference). The schedule trains the encoder with the decoder frozen,
then the decoder with the encoder frozen, then both (`PHASES`). The decoder runs at the reference's
dual-track position ids (sequences.py), so its latents sit where stage 2 and inference put them.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from nfbench.methods.latent_sft import PHASES, SCORES
from nfbench.methods.latent_sft.masks import LATENT, additive, induction_mask, supervision_mask
from nfbench.harness.batching import IGNORE
from nfbench.methods.latent_sft.superposition import superpose

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def with_lora(model: nn.Module, rank: int, alpha: float, dropout: float, embeddings: bool,
              head_tokens: list[int] | None = None) -> nn.Module:
    """Wrap with a peft LoRA adapter; rank 0 = train the full model instead.

    head_tokens: token ids whose LM-head rows are also trained. Needed for `</think>`: add_special_tokens
    copies eos's output row into every new token, and with a frozen head their logits stay exactly tied
    with eos, so the argmax can never be `</think>` (thinking then never ends; see decode.think)."""
    if rank <= 0:
        return model
    from peft import LoraConfig, get_peft_model

    targets = LORA_TARGETS + (["embed_tokens"] if embeddings else [])
    extra = {"trainable_token_indices": _head_rows(model, head_tokens)} if head_tokens else {}
    cfg = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, bias="none", **extra)
    return get_peft_model(model, cfg)


def _head_rows(model: nn.Module, ids: list[int]) -> list[int] | dict[str, list[int]]:
    """peft `trainable_token_indices` for the output rows of `ids` (tied head: the shared embedding)."""
    if getattr(model.config, "tie_word_embeddings", False):
        return list(ids)
    head = model.get_output_embeddings()
    name = next(n for n, m in model.named_modules() if m is head)
    return {name.rsplit(".", 1)[-1]: list(ids)}


def trainable_params(model: nn.Module) -> list[nn.Parameter]:
    """The adapter's weights (LoRA and trainable token rows) when it has one, else every weight."""
    lora = [p for n, p in model.named_parameters() if "lora_" in n or "trainable_tokens_" in n]
    return lora or list(model.parameters())


def _is_peft(model: nn.Module) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


def merged(model: nn.Module) -> nn.Module:
    """The model with its LoRA adapter merged into the weights (the model itself at lora_rank 0)."""
    return model.merge_and_unload() if _is_peft(model) else model


def body(model: nn.Module) -> nn.Module:
    """The transformer without its LM head (LlamaModel inside LlamaForCausalLM, through peft)."""
    base = model.get_base_model() if _is_peft(model) else model
    return getattr(base, base.base_model_prefix)


def ce_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Next-token CE over labelled positions (labels aligned with inputs, shifted here)."""
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(), ignore_index=IGNORE)


class Stage1(nn.Module):
    def __init__(self, base: nn.Module, top_k: int, lora_rank: int, lora_alpha: float, lora_dropout: float,
                 scores: str = "head"):
        super().__init__()
        assert scores in SCORES, scores
        self.top_k, self.scores = top_k, scores
        self.encoder = with_lora(copy.deepcopy(base), lora_rank, lora_alpha, lora_dropout, embeddings=True)
        self.decoder = with_lora(copy.deepcopy(base), lora_rank, lora_alpha, lora_dropout, embeddings=False)
        self.phase = "joint"

    def set_phase(self, phase: str) -> list[nn.Parameter]:
        """Freeze everything except what `phase` trains; return the parameters to optimise."""
        assert phase in PHASES, phase
        self.phase = phase
        for p in self.parameters():
            p.requires_grad_(False)
        train = []
        if phase in ("encoder", "joint"):
            train += trainable_params(self.encoder)
        if phase in ("decoder", "joint"):
            train += trainable_params(self.decoder)
        for p in train:
            p.requires_grad_(True)
        return train

    def vocab(self) -> torch.Tensor:
        return self.decoder.get_input_embeddings().weight

    def head(self) -> torch.Tensor | None:
        """The matrix that scores the encoder's states over the vocabulary (superposition.py): the
        decoder's LM head, or None for the input embeddings themselves (`scores`)."""
        return self.decoder.get_output_embeddings().weight if self.scores == "head" else None

    def encode(self, enc_ids: torch.Tensor, enc_lengths: torch.Tensor, compress_id: int, top_k: int | None = None):
        """All latents of a batch in one encoder pass: (embeddings [N, H], probs [N, k], ids [N, k]),
        rows in (sample, chunk) order. top_k: None = the training top-k."""
        W = self.vocab()
        mask = additive(induction_mask(enc_ids, compress_id, enc_lengths), W.dtype)
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.phase != "decoder"):
            h = body(self.encoder)(input_ids=enc_ids, attention_mask=mask).last_hidden_state
        return superpose(h[enc_ids == compress_id], W, self.top_k if top_k is None else top_k, head=self.head())

    def forward(self, batch: dict[str, torch.Tensor], compress_id: int) -> torch.Tensor:
        latents, _, _ = self.encode(batch["enc_ids"], batch["enc_lengths"], compress_id)
        embeds = self.decoder.get_input_embeddings()(batch["ids"])
        slots = batch["role"] == LATENT
        assert int(slots.sum()) == latents.shape[0], "one compress token per latent slot"
        embeds = embeds.masked_scatter(slots[..., None], latents.to(embeds.dtype))
        mask = additive(supervision_mask(batch["role"], batch["seg"]), embeds.dtype)
        # the dual-track positions (sequences.py): latents where stage 2 and inference put them
        logits = self.decoder(inputs_embeds=embeds, attention_mask=mask, position_ids=batch["pos"]).logits
        return ce_loss(logits, batch["labels"])

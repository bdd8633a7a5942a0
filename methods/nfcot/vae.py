"""CoT VAE: compresses an explicit chain of thought (token ids) into K latent slots of dimension D.

Encoder: token embeddings -> causal transformer -> K learned queries cross-attend over the token
states -> Gaussian posterior (mu, logvar) per slot. With `chunked=True` query i sees only the i-th of
K equal chunks of the CoT (its causal states still carry the prefix), so slot i summarises the
i-th part of the reasoning: a left-to-right structure the backbone's autoregressive prior can follow.
Decoder ("parallel", default): position queries attend to each other and cross-attend to the K
slots, predicting every CoT token at once, so all of the CoT must pass through the slots (no
posterior collapse onto an autoregressive decoder); "causal": teacher-forced autoregressive decoder.
Loss: token cross-entropy + beta * KL(q(e|CoT) || N(0, I)). After training it is frozen and the
posterior means are the flow's targets e.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class VAEConfig:
    vocab_size: int
    slots: int  # K
    dim: int  # D
    width: int = 128
    layers: int = 2
    heads: int = 4
    max_len: int = 256  # longest CoT in tokens (longer ones are truncated)
    chunked: bool = True
    beta: float = 0.01  # KL weight
    decoder: str = "parallel"  # "parallel" | "causal"


INIT_LOGVAR = -6.0


def _causal_mask(n: int, device: torch.device) -> torch.Tensor:
    return torch.triu(torch.ones(n, n, dtype=torch.bool, device=device), diagonal=1)  # True = blocked


class CoTVAE(nn.Module):
    def __init__(self, cfg: VAEConfig, pad_id: int, bos_id: int):
        super().__init__()
        self.cfg, self.pad_id, self.bos_id = cfg, pad_id, bos_id
        w = cfg.width
        self.embed = nn.Embedding(cfg.vocab_size, w)
        self.pos = nn.Parameter(torch.randn(cfg.max_len + 1, w) * 0.02)
        layer = lambda: nn.TransformerEncoderLayer(w, cfg.heads, 4 * w, dropout=0.0, batch_first=True,
                                                   norm_first=True)
        self.encoder = nn.TransformerEncoder(layer(), cfg.layers, enable_nested_tensor=False)
        self.queries = nn.Parameter(torch.randn(cfg.slots, w) * 0.02)
        self.pool = nn.MultiheadAttention(w, cfg.heads, batch_first=True)
        self.to_post = nn.Sequential(nn.LayerNorm(w), nn.Linear(w, 2 * cfg.dim))
        with torch.no_grad():  # start with a narrow posterior: unit-variance noise at init drowns the
            self.to_post[1].bias[cfg.dim:] = INIT_LOGVAR  # small means and teaches the decoder to ignore them
        self.from_latent = nn.Linear(cfg.dim, w)
        self.slot_pos = nn.Parameter(torch.randn(cfg.slots, w) * 0.02)
        dec = nn.TransformerDecoderLayer(w, cfg.heads, 4 * w, dropout=0.0, batch_first=True, norm_first=True)
        self.decoder = nn.TransformerDecoder(dec, cfg.layers)
        self.out = nn.Sequential(nn.LayerNorm(w), nn.Linear(w, cfg.vocab_size))

    def _tokens(self, ids: torch.Tensor) -> torch.Tensor:
        return self.embed(ids) + self.pos[: ids.shape[1]]

    def _slot_mask(self, mask: torch.Tensor) -> torch.Tensor | None:
        """(B*heads, K, L) True where query k may not look: outside its chunk or padding."""
        b, n = mask.shape
        k = self.cfg.slots
        lengths = mask.sum(1, keepdim=True)  # (B, 1)
        pos = torch.arange(n, device=mask.device)[None, :]
        if self.cfg.chunked:
            slot = torch.arange(k, device=mask.device)[None, :, None]
            start = (slot * lengths[:, :, None]) // k
            end = torch.maximum(((slot + 1) * lengths[:, :, None]) // k, start + 1)  # >= 1 token each
            allowed = (pos[:, None, :] >= start) & (pos[:, None, :] < end)
            allowed = allowed & (pos[:, None, :] < lengths[:, :, None].clamp(min=1))
            allowed[..., 0] |= ~allowed.any(-1)  # an empty CoT: look at the first position
        else:
            allowed = mask.bool()[:, None, :].expand(b, k, n).clone()
            allowed[..., 0] = True
        return (~allowed).repeat_interleave(self.cfg.heads, dim=0)

    def encode(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ids, mask (B, L) right-padded -> posterior mu, logvar (B, K, D)."""
        states = self.encoder(self._tokens(ids), mask=_causal_mask(ids.shape[1], ids.device),
                              is_causal=True)
        q = self.queries[None].expand(ids.shape[0], -1, -1)
        pooled, _ = self.pool(q, states, states, attn_mask=self._slot_mask(mask), need_weights=False)
        mu, logvar = self.to_post(pooled).chunk(2, dim=-1)
        return mu, logvar.clamp(-10, 5)

    @property
    def causal(self) -> bool:
        return self.cfg.decoder == "causal"

    def _decoder_inputs(self, ids: torch.Tensor) -> torch.Tensor:
        bos = torch.full_like(ids[:, :1], self.bos_id)
        if not self.causal:  # positions only: the content must come from the slots
            return bos.expand_as(ids)
        return torch.cat([bos, ids[:, :-1]], dim=1)

    def decode_logits(self, e: torch.Tensor, ids_in: torch.Tensor) -> torch.Tensor:
        memory = self.from_latent(e) + self.slot_pos
        n = ids_in.shape[1]
        mask = _causal_mask(n, ids_in.device) if self.causal else None
        h = self.decoder(self._tokens(ids_in), memory, tgt_mask=mask, tgt_is_causal=self.causal)
        return self.out(h)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.loss(ids, mask)

    def loss(self, ids: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        mu, logvar = self.encode(ids, mask)
        e = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
        logits = self.decode_logits(e, self._decoder_inputs(ids))
        m = mask.float()
        ce = (F.cross_entropy(logits.transpose(1, 2), ids, reduction="none") * m).sum() / m.sum()
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1).mean()
        acc = ((logits.argmax(-1) == ids).float() * m).sum() / m.sum()
        return {"loss": ce + self.cfg.beta * kl, "recon_ce": ce, "kl": kl, "token_acc": acc}

    @torch.no_grad()
    def reconstruct(self, e: torch.Tensor, length: int) -> torch.Tensor:
        """Greedy decode `length` tokens from slots e (B, K, D)."""
        if not self.causal:
            start = torch.full((e.shape[0], length), self.bos_id, dtype=torch.long, device=e.device)
            return self.decode_logits(e, start).argmax(-1)
        ids = torch.full((e.shape[0], 1), self.bos_id, dtype=torch.long, device=e.device)
        for _ in range(length):
            nxt = self.decode_logits(e, ids)[:, -1].argmax(-1, keepdim=True)
            ids = torch.cat([ids, nxt], dim=1)
        return ids[:, 1:]

"""NF-CoT model: one causal stream through the backbone, NF head on latent positions, LM head on text.

Stream layout (prompt left-padded, answer right-padded, so latent positions align across a batch):

    [prompt (P)] [<bot>] [proj(u_1) .. proj(u_K)] [<eot>] [answer (A)]
    index:  0..P-1    P     P+1 .. P+K          P+K+1   P+K+2 ..

The hidden state at P+i-1 (i = 1..K) gives (mu_i, sigma_i) of u_i through the NF head; the hidden
state at P+K+1+j gives the logits of answer token j. Training maps the VAE targets e to u = F(e; q)
with the shallow flow, so log p(e|q) = log p(u|q) + log|det dF/de| is exact.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from nfbench.harness.batching import positions
from nfbench.methods.nfcot.flow import ShallowFlow
from nfbench.methods.nfcot.head import NFHead, StreamEmbeddings, gaussian_logp


@dataclass
class StreamBatch:
    prompt_ids: torch.Tensor  # (B, P) left-padded
    prompt_mask: torch.Tensor  # (B, P) 1 = real token
    answer_ids: torch.Tensor  # (B, A) right-padded, ends with the stop token
    answer_mask: torch.Tensor  # (B, A)

    def to(self, device: torch.device | str) -> StreamBatch:
        return StreamBatch(*(t.to(device) for t in (self.prompt_ids, self.prompt_mask,
                                                    self.answer_ids, self.answer_mask)))


@dataclass
class FlowShape:
    slots: int  # K
    dim: int  # D
    blocks: int = 2
    width: int = 64
    layers: int = 2
    heads: int = 2
    head_width: int = 256
    conditioned: bool = True  # F(e; q): blocks see a pooled prompt embedding


class NFCoTModel(nn.Module):
    def __init__(self, backbone: nn.Module, shape: FlowShape):
        super().__init__()
        self.backbone, self.shape = backbone, shape
        hidden = backbone.config.hidden_size
        emb = backbone.get_input_embeddings().weight
        self.flow = ShallowFlow(shape.dim, shape.slots, shape.blocks, shape.width, shape.layers,
                                shape.heads, cond_dim=hidden if shape.conditioned else 0)
        self.head = NFHead(hidden, shape.dim, shape.head_width)
        self.embed = StreamEmbeddings(shape.dim, hidden, init_std=float(emb.detach().float().std()))

    # --- pieces of the stream ---------------------------------------------------------------
    def token_embeds(self, ids: torch.Tensor) -> torch.Tensor:
        return self.backbone.get_input_embeddings()(ids)

    def prompt_condition(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor) -> torch.Tensor | None:
        """Pooled prompt embedding for F(e; q); detached so the flow does not pull the embeddings."""
        if not self.shape.conditioned:
            return None
        m = prompt_mask.unsqueeze(-1).float()
        return ((self.token_embeds(prompt_ids).float() * m).sum(1) / m.sum(1).clamp(min=1)).detach()

    def run(self, embeds: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor,
            past=None) -> tuple[torch.Tensor, object]:
        """Backbone body only (no LM head): last hidden states and the KV cache."""
        out = self.backbone.base_model(inputs_embeds=embeds, attention_mask=mask, position_ids=pos,
                                       past_key_values=past, use_cache=past is not None)
        return out.last_hidden_state, out.past_key_values

    def token_logprobs(self, h: torch.Tensor) -> torch.Tensor:
        return self.backbone.get_output_embeddings()(h).float().log_softmax(-1)

    def stream(self, batch: StreamBatch, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Full-sequence input embeddings and attention mask."""
        b = u.shape[0]
        dtype = self.token_embeds(batch.prompt_ids[:, :1]).dtype
        embeds = torch.cat([self.token_embeds(batch.prompt_ids), self.embed.marker("bot", b).to(dtype),
                            self.embed.latents(u).to(dtype), self.embed.marker("eot", b).to(dtype),
                            self.token_embeds(batch.answer_ids)], dim=1)
        ones = batch.prompt_mask.new_ones(b, u.shape[1] + 2)
        return embeds, torch.cat([batch.prompt_mask, ones, batch.answer_mask], dim=1)

    def forward(self, batch: StreamBatch, x: torch.Tensor, noise_std: float | None = None) -> object:
        """Training entry point (so DDP sees the call): the losses of targets e (noise_std given),
        else the teacher-forced likelihoods of latents u."""
        return self.teacher_forced(batch, x) if noise_std is None else self.losses(batch, x, noise_std)

    # --- teacher-forced likelihoods -----------------------------------------------------------
    def teacher_forced(self, batch: StreamBatch, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-latent log N(u_i; mu_i, sigma_i) (B, K) and per-answer-token log-probs (B, A)."""
        p, k = batch.prompt_ids.shape[1], u.shape[1]
        embeds, mask = self.stream(batch, u)
        h, _ = self.run(embeds, mask, positions(mask))
        mu, sigma = self.head(h[:, p: p + k])
        latent_logp = gaussian_logp(u.float(), mu, sigma)
        a = batch.answer_ids.shape[1]
        logp = self.token_logprobs(h[:, p + k + 1: p + k + 1 + a])
        token_logp = logp.gather(-1, batch.answer_ids.unsqueeze(-1)).squeeze(-1) * batch.answer_mask
        return latent_logp, token_logp

    def losses(self, batch: StreamBatch, e: torch.Tensor, noise_std: float) -> dict[str, torch.Tensor]:
        """L = L_flow + L_text on noise-augmented targets; L_flow in nats per latent dimension."""
        e_noisy = e.float() + noise_std * torch.randn_like(e.float())
        u, logdet = self.flow(e_noisy, self.prompt_condition(batch.prompt_ids, batch.prompt_mask))
        latent_logp, token_logp = self.teacher_forced(batch, u)
        k, d = u.shape[1], u.shape[2]
        flow_nll = -(latent_logp.sum(1) + logdet).mean() / (k * d)
        n_tokens = batch.answer_mask.sum().clamp(min=1)
        text_ce = -token_logp.sum() / n_tokens
        return {"loss": flow_nll + text_ce, "flow_nll": flow_nll, "text_ce": text_ce,
                "logdet": logdet.mean() / (k * d)}

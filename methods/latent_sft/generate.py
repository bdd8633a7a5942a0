"""Latent-SFT inference: soft top-k latents until `</think>`, then the answer, in one KV cache (decode.py)."""
from __future__ import annotations

from typing import Any

from nfbench.harness.types import Generation
from nfbench.methods.base import Decoding, Job
from nfbench.methods.readout import READOUT_TOKENS, token_list
from nfbench.methods.text_stream import StreamGenerator, TextStream


class LatentSFTGenerator(StreamGenerator):
    def __init__(self, stream: TextStream, ids: Any, top_k: int, max_latents: int):
        self.stream, self.ids, self.top_k, self.max_latents = stream, ids, top_k, max_latents

    def generate(self, jobs: list[Job], seed: int, decoding: Decoding) -> list[Generation]:
        from nfbench.methods.latent_sft.decode import effective_compression_rate, effective_global_parallelism, think

        s, sp, cap = self.stream, self.ids, self.max_latents
        batch = s.batch(jobs)
        logits, chains = think(s.backbone.model, batch.state, batch.ids, batch.mask, think_id=sp.think,
                               end_think_id=sp.end_think, top_k=self.top_k, max_latents=cap, meter=batch.meter)
        tokens = s.answer(batch, logits, decoding, seed)
        gens = []
        for job, prompt, toks, cost, chain in zip(jobs, batch.prompts, tokens, batch.meter.results(), chains):
            m = len(chain.probs)
            reference = s.tokenizer(s.fmt.reference_reasoning(job[0]), add_special_tokens=False)["input_ids"]
            top1 = s.tokenizer.decode([int(ids[0]) for ids in chain.ids])  # each latent's most likely token
            text = s.text(toks)
            gens.append(s.record(
                job, prompt, text, text, f"<{m} latents> {top1}", cost, latent_steps=m, top_k=self.top_k,
                n_eff=effective_global_parallelism(chain.probs),
                effective_compression_rate=effective_compression_rate(chain.ids, reference, self.top_k),
                compression_rate=len(reference) / m if m and reference else None, latent_top1=top1,
                hit_max_latents=m >= cap,
                # each latent's superposition, its heaviest tokens with their exact weights (`nfbench inspect`)
                readout={"mixture": [token_list(s.tokenizer, i[:READOUT_TOKENS].tolist(), p[:READOUT_TOKENS].tolist())
                                     for p, i in zip(chain.probs, chain.ids)]}))
        return gens

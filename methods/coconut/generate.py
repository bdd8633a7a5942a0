"""Coconut inference: prompt + `<bot>` + k continuous thoughts + `<eot>` in one KV cache, then the answer."""
from __future__ import annotations

from nfbench.harness.types import Generation, Problem
from nfbench.methods.base import Decoding, Job
from nfbench.methods.prompt_format import FENCE
from nfbench.methods.readout import embedding_view, lm_head_view
from nfbench.methods.text_stream import StreamGenerator, TextStream


class CoconutGenerator(StreamGenerator):
    def __init__(self, stream: TextStream, ids: dict[str, int], n_latents: int):
        self.stream, self.ids, self.n_latents = stream, ids, n_latents

    def generate(self, jobs: list[Job], seed: int, decoding: Decoding) -> list[Generation]:
        from nfbench.methods.coconut.latent import think

        s, k = self.stream, self.n_latents
        batch = s.batch(jobs)
        views: dict[str, list[list]] = {"lm_head": [[] for _ in jobs], "embedding": [[] for _ in jobs]}
        embeddings = s.backbone.model.get_input_embeddings().weight

        def read(thought, logits):  # each thought's nearest tokens (methods/readout.py), for `nfbench inspect`
            for name, rows in (("lm_head", lm_head_view(s.tokenizer, logits)),
                               ("embedding", embedding_view(s.tokenizer, thought, embeddings))):
                for i, row in enumerate(rows):
                    views[name][i].append(row)

        out = think(s.backbone.model, batch.state, batch.ids, batch.mask, k, self.ids["bot"], self.ids["eot"],
                    meter=batch.meter, on_thought=read)
        for i in range(batch.size):
            batch.meter.set_phase(i, "answer")
        tokens = s.answer(batch, out.logits, decoding, seed)
        gens = []
        for i, (job, prompt, toks, cost) in enumerate(zip(jobs, batch.prompts, tokens, batch.meter.results())):
            text_steps = self.leftover_reasoning(job[0], toks)
            # steps the model still writes in text (an early-stage model) are reasoning, not answer
            cost.reasoning_positions += text_steps
            cost.answer_tokens -= text_steps
            gens.append(s.record(job, prompt, s.text(toks), s.text(toks[text_steps:]),
                                 f"<{k} continuous thoughts>" + s.tokenizer.decode(toks[:text_steps]), cost,
                                 latents=k, text_reasoning_tokens=text_steps,
                                 readout={name: rows[i] for name, rows in views.items()}))
        return gens

    def leftover_reasoning(self, problem: Problem, toks: list[int]) -> int:
        """Tokens of text reasoning before the answer: up to the first marker line that is not the
        answer itself (compact) or up to the code fence (chat)."""
        tok, compact = self.stream.tokenizer, self.stream.fmt.compact
        text = ""
        for n, t in enumerate(toks):
            text += tok.decode([t])
            if compact and text.endswith("\n"):
                return 0 if f"def {problem.entry_point}" in text else n + 1
            if not compact and text.endswith(FENCE):
                return max(0, n + 1 - len(tok(FENCE, add_special_tokens=False)["input_ids"]))
        return 0

"""soft-thinking: training-free reasoning in concept tokens (Zhang et al., arXiv 2505.15778).

Runs on a CoT model (the latest `cot` checkpoint of the backbone, or zero-shot on an instruct
backbone) with the CoT prompt; each reasoning step feeds the probability-weighted mixture of token
embeddings (methods/soft_thinking_core.py) instead of a sampled token, until the end-of-thinking token
is the most likely one, the entropy stays low ("Cold Stop"), or `max_thinking_steps`; then the
end-of-thinking token is fed as a real token and the answer is decoded from the same KV cache.
"""
from __future__ import annotations

from dataclasses import dataclass

from nfbench.harness.config import option
from nfbench.harness.errors import UserError
from nfbench.harness.registry import register_method
from nfbench.harness.types import Generation
from nfbench.methods.base import BudgetKnob, Decoding, Generator, Job, Method, RunContext
from nfbench.methods.readout import token_list
from nfbench.methods.text_stream import StreamGenerator, TextStream


@dataclass
class SoftThinkingConfig:
    # defaults of the authors' run scripts (max_topk 10, temperature 0.6, top-p 0.95, min-p 0.001,
    # early_stopping_entropy_threshold 0.01, early_stopping_length_threshold 256)
    top_k: int = option(10, "tokens mixed into one concept token")
    temperature: float = option(0.6, "temperature of the concept distribution")
    top_p: float = option(0.95, "nucleus mass of the concept distribution")
    min_p: float = option(0.001, "drop tokens below min_p x the most likely one")
    entropy_threshold: float = option(0.01, "Cold Stop: entropy below this ...")
    patience: int = option(256, "... for this many consecutive steps ends the thinking")
    max_thinking_steps: int | None = option(None, "None = the run's max_new_tokens")
    end_token: str | None = option(None, "what ends the thinking (one token); None = the format's marker: newline (compact) or ``` (chat)")


class SoftThinkingGenerator(StreamGenerator):
    def __init__(self, stream: TextStream, config: SoftThinkingConfig):
        self.stream, self.config = stream, config
        text = config.end_token or stream.fmt.marker
        ids = stream.tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise UserError(f"the end-of-thinking text {text!r} is {len(ids)} tokens for this tokenizer",
                            "set method_config.end_token to a string that is one token")
        self.end_id = ids[0]

    def generate(self, jobs: list[Job], seed: int, decoding: Decoding) -> list[Generation]:
        import torch

        from nfbench.harness.generation import step
        from nfbench.methods.soft_thinking_core import soft_think

        s, c, bb = self.stream, self.config, self.stream.backbone
        batch = s.batch(jobs)
        logits = s.prefill(batch).logits
        thought = soft_think(bb.model, batch.state, logits, end_id=self.end_id,
                             max_steps=c.max_thinking_steps or decoding.max_new_tokens, temperature=c.temperature,
                             top_k=c.top_k, top_p=c.top_p, min_p=c.min_p, entropy_threshold=c.entropy_threshold,
                             patience=c.patience, meter=batch.meter)
        # the end-of-thinking token is fed as a real token; it closes the reasoning phase
        end = torch.full((batch.size, 1), self.end_id, device=bb.device)
        out = step(bb.model, batch.state, input_ids=end, meter=batch.meter)
        for i in range(batch.size):
            batch.meter.set_phase(i, "answer")
        opened = "" if s.fmt.compact else s.fmt.marker  # chat: the fence that ended the thinking opens the answer
        answers = s.answer(batch, out.logits, decoding, seed, opened=opened)
        end_text = s.tokenizer.decode([self.end_id])
        gens = []
        for i, (job, prompt, ids, cost) in enumerate(zip(jobs, batch.prompts, answers, batch.meter.results())):
            summary = s.text(thought.top_tokens[i])
            gens.append(s.record(job, prompt, summary + end_text + s.text(ids), opened + s.text(ids), summary, cost,
                                 concept_tokens=int(thought.steps[i]), stopped_by=thought.stopped_by[i],
                                 mean_entropy=round(thought.mean_entropy[i], 4),
                                 mean_support=round(thought.support[i], 2),
                                 readout={"mixture": [token_list(s.tokenizer, *m) for m in thought.mixtures[i]]}))
        return gens


@register_method("soft-thinking")
class SoftThinking(Method):
    """Soft Thinking (training-free): probability-weighted concept tokens instead of sampled ones."""

    config_class = SoftThinkingConfig
    starts_from = "cot"
    zero_shot = True
    budget = BudgetKnob("max_thinking_steps", "concept tokens (then the end of thinking is forced)")

    def generator(self, ctx: RunContext) -> Generator:
        bb = ctx.load_backbone()
        return SoftThinkingGenerator(TextStream(bb, ctx.format(bb.tokenizer, self.reasons), ctx.checkpoint), self.config)

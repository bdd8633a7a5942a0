"""cot and direct: reason in text (or not), then answer; zero-shot on an instruct model, or SFT.

Generation is one decode loop: the format's marker (the compact reasoning's newline, or a chat
answer's opening fence) splits what the model wrote into reasoning and answer, and moves the cost
meter from the reasoning phase to the answer phase at that token.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nfbench.harness.config import StageSettings, option, stages_field
from nfbench.harness.registry import register_method
from nfbench.harness.types import Generation
from nfbench.methods.base import Decoding, Generator, Job, Method, RunContext
from nfbench.methods.sft import sft_stage
from nfbench.methods.text_stream import StreamGenerator, TextStream


@dataclass
class TextConfig:
    val_max_new_tokens: int = option(192, "tokens per validation sample while training")
    stages: dict[str, StageSettings] = stages_field()


class TextGenerator(StreamGenerator):
    def __init__(self, stream: TextStream):
        self.stream = stream

    def generate(self, jobs: list[Job], seed: int, decoding: Decoding) -> list[Generation]:
        s, fmt = self.stream, self.stream.fmt
        batch = s.batch(jobs, phase="reasoning" if fmt.reasons else "answer")
        logits = s.prefill(batch).logits
        split_at = [-1 if fmt.reasons else 0] * batch.size  # token index where the answer starts
        counts = [0] * batch.size

        def on_token(i: int, text: str) -> bool:
            counts[i] += 1
            if split_at[i] < 0 and fmt.marker in text:
                opens = fmt.marker != "\n"  # compact: the newline closes the reasoning; chat: the fence opens the answer
                split_at[i] = counts[i] - 1 if opens else counts[i]
                batch.meter.set_phase(i, "answer", move_last=1 if opens else 0)
            return False

        outputs = s.answer(batch, logits, decoding, seed, on_token=on_token)
        gens = []
        for job, prompt, out, cut, cost in zip(jobs, batch.prompts, outputs, split_at, batch.meter.results()):
            cut = len(out) if cut < 0 else cut  # never reached the answer
            gens.append(s.record(job, prompt, s.text(out), s.text(out[cut:]),
                                 s.text(out[:cut]) if fmt.reasons else None, cost))
        return gens


class TextMethod(Method):
    """cot and direct differ only in `reasons`."""

    config_class = TextConfig
    zero_shot = True
    reasons: bool

    def stages(self) -> list[Any]:
        return [sft_stage(self.name, self.reasons, lambda bb, fmt: TextGenerator(TextStream(bb, fmt)),
                          self.config.val_max_new_tokens, needs=("reasoning",) if self.reasons else ())]

    def generator(self, ctx: RunContext) -> Generator:
        bb = ctx.load_backbone()
        return TextGenerator(TextStream(bb, ctx.format(bb.tokenizer, self.reasons), ctx.checkpoint))


@register_method("cot")
class Cot(TextMethod):
    """Explicit chain of thought: reason in text tokens, then write the program."""

    reasons = True


@register_method("direct")
class Direct(TextMethod):
    """No reasoning: write the program straight after the prompt."""

    reasons = False

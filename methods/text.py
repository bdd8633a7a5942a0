"""cot and direct: reason in text (or not), then answer; zero-shot on an instruct model, or SFT.

Generation is one decode loop: the format's marker (the compact reasoning's newline, or a chat
answer's opening fence) splits what the model wrote into reasoning and answer, and moves the cost
meter from the reasoning phase to the answer phase at that token. With a reasoning budget
(`max_reasoning_tokens`, cot's knob for `nfbench sweep`) the reasoning is decoded first, up to the
budget; a row still reasoning then has the marker fed to it (a forced answer, as in budget-forcing
"s1", Muennighoff et al. 2025) and every row's answer is decoded from the same cache.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from nfbench.harness.config import StageSettings, option, stages_field
from nfbench.harness.registry import register_method
from nfbench.harness.types import Generation
from nfbench.methods.base import BudgetKnob, Decoding, Generator, Job, Method, RunContext
from nfbench.methods.sft import sft_stage
from nfbench.methods.text_stream import StreamGenerator, TextStream


@dataclass
class TextConfig:
    max_reasoning_tokens: int | None = option(None, "reasoning tokens before the answer is forced (the marker fed); "
                                                    "None = no budget but the run's max_new_tokens (cot only)")
    val_max_new_tokens: int = option(192, "tokens per validation sample while training")
    stages: dict[str, StageSettings] = stages_field()


class TextGenerator(StreamGenerator):
    def __init__(self, stream: TextStream, max_reasoning_tokens: int | None = None):
        self.stream, self.budget = stream, max_reasoning_tokens

    def generate(self, jobs: list[Job], seed: int, decoding: Decoding) -> list[Generation]:
        s, fmt = self.stream, self.stream.fmt
        batch = s.batch(jobs, phase="reasoning" if fmt.reasons else "answer")
        logits = s.prefill(batch).logits
        split_at = [-1 if fmt.reasons else 0] * batch.size  # token index where the answer starts
        counts = [0] * batch.size
        budgeted = fmt.reasons and self.budget is not None

        def on_token(i: int, text: str) -> bool:
            counts[i] += 1
            if split_at[i] < 0 and fmt.marker in text:
                opens = fmt.marker != "\n"  # compact: the newline closes the reasoning; chat: the fence opens the answer
                split_at[i] = counts[i] - 1 if opens else counts[i]
                batch.meter.set_phase(i, "answer", move_last=1 if opens else 0)
                return budgeted  # a budgeted reasoning phase ends here; the answer follows below
            return False

        if budgeted:
            outputs, logits, opened, done = self.reason_within_budget(batch, logits, decoding, seed, on_token, split_at)
            answers = s.answer(batch, logits, decoding, seed + 1, opened=opened, done=done)
            outputs = [o + a for o, a in zip(outputs, answers)]
        else:
            outputs = s.answer(batch, logits, decoding, seed, on_token=on_token)
        gens = []
        for job, prompt, out, cut, cost in zip(jobs, batch.prompts, outputs, split_at, batch.meter.results()):
            cut = len(out) if cut < 0 else cut  # never reached the answer
            gens.append(s.record(job, prompt, s.text(out), s.text(out[cut:]),
                                 s.text(out[:cut]) if fmt.reasons else None, cost,
                                 **({"reasoning_budget": self.budget} if budgeted else {})))
        return gens

    def reason_within_budget(self, batch, logits, decoding, seed, on_token, split_at):
        """Decode at most `budget` reasoning tokens, then feed each row what the loop left unfed (its
        last token, and the marker where the budget ran out first). Returns (tokens so far, logits
        after them, each row's answer text so far, rows already finished by a stop token)."""
        s, fmt = self.stream, self.stream.fmt
        reasoning = s.answer(batch, logits, replace(decoding, max_new_tokens=self.budget), seed, on_token=on_token)
        marker = s.tokenizer(fmt.marker, add_special_tokens=False)["input_ids"]
        feeds, opened, done = [], [], []
        for i, toks in enumerate(reasoning):
            stopped = len(toks) < self.budget and split_at[i] < 0  # a stop token before the answer
            forced = [] if stopped or split_at[i] >= 0 else marker
            if forced:  # the forced marker is fed, not generated: no position is counted for it
                split_at[i] = len(toks) + (len(forced) if fmt.compact else 0)  # as if the model had written it
                batch.meter.set_phase(i, "answer")
            feeds.append([] if stopped else toks[-1:] + forced)  # decode never feeds a row's last token
            toks.extend(forced)
            opened.append("" if fmt.compact else s.text(toks[split_at[i]:]))
            done.append(stopped)
            if not stopped:
                batch.meter.resume(i)
        return reasoning, s.feed(batch, feeds), opened, done


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
        budget = self.config.max_reasoning_tokens if self.reasons else None
        return TextGenerator(TextStream(bb, ctx.format(bb.tokenizer, self.reasons), ctx.checkpoint), budget)


@register_method("cot")
class Cot(TextMethod):
    """Explicit chain of thought: reason in text tokens, then write the program."""

    reasons = True
    budget = BudgetKnob("max_reasoning_tokens", "text reasoning tokens (then the answer is forced)")

    def budget_note(self, info: dict[str, Any], value: int) -> str | None:
        return (f"cot capped at {value} reasoning tokens: a chain longer than that has its end marker fed and "
                "must answer from what it wrote so far (it was trained on whole chains only)")


@register_method("direct")
class Direct(TextMethod):
    """No reasoning: write the program straight after the prompt."""

    reasons = False

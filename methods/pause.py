"""pause: learned `<pause>` positions before the answer (Goyal et al., "Think before you speak:
Training Language Models With Pause Tokens", arXiv 2310.02226).

The control the latent-reasoning literature uses for "does the latent method gain from what its
positions carry, or only from having more of them?": on ProsQA a pause-token model reaches 96.6 against
Coconut's 97.0 (docs: methods.md s3). Here the model gets the same number of extra positions as a latent
method (`n_pauses`), but each one is a fixed learned embedding instead of fed-back computation.

Training: one SFT stage from the CoT model (like Coconut, so the comparison differs only in what the
positions hold) on `prompt <pause>*n answer <eos>`, with the loss on the answer only: the pauses'
outputs are ignored, as in the paper's pause-finetuning. `<pause>` is a new token whose embedding
trains with the model. Inference: the n pauses are fed after the prompt in one pass and the answer is
decoded from the cache; the n pause positions are the sample's reasoning positions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nfbench.harness.config import StageSettings, option, stages_field
from nfbench.harness.registry import register_method
from nfbench.harness.sft_data import SFTExample
from nfbench.harness.stages import StageSpec
from nfbench.harness.types import Generation
from nfbench.methods.base import BudgetKnob, Decoding, Generator, Job, Method, RunContext
from nfbench.methods.prompt_format import PromptFormat
from nfbench.methods.sft import sft_stage
from nfbench.methods.text_stream import StreamGenerator, TextStream

PAUSE = "<pause>"


@dataclass
class PauseConfig:
    n_pauses: int = option(8, "`<pause>` positions between prompt and answer (Goyal et al.: 10); to control "
                              "for a latent method, its number of latents")
    inference_pauses: int | None = option(None, "pauses at inference; None = as many as trained with (checkpoint.json)")
    init_token: str | None = option(None, "the `<pause>` embedding starts as this token's (None = eos)")
    val_max_new_tokens: int = option(64, "tokens per validation sample while training")
    stages: dict[str, StageSettings] = stages_field()


def encode_example(fmt: PromptFormat, ex: SFTExample, n_pauses: int) -> dict[str, list[int]]:
    """prompt <pause>*n answer <eos>, the loss on the answer only (the pauses' outputs are ignored)."""
    from nfbench.harness.batching import encode

    pauses = [fmt.tokenizer.convert_tokens_to_ids(PAUSE)] * n_pauses
    return encode(fmt.tokenizer, fmt.example_prompt_ids(ex) + pauses, fmt.answer_target(ex))


def pause_id(backbone: Any, init_token: str | None = None) -> int:
    """The id of `<pause>`, added to the backbone where missing (a pause checkpoint has it)."""
    from nfbench.harness.backbone import add_special_tokens

    return add_special_tokens(backbone, [PAUSE], init_from=init_token)[0]


class PauseGenerator(StreamGenerator):
    def __init__(self, stream: TextStream, n_pauses: int):
        self.stream, self.n = stream, n_pauses
        self.pause = pause_id(stream.backbone)

    def generate(self, jobs: list[Job], seed: int, decoding: Decoding) -> list[Generation]:
        import torch

        from nfbench.harness.generation import step

        s = self.stream
        batch = s.batch(jobs)
        s.prefill(batch)
        pauses = torch.full((batch.size, self.n), self.pause, device=s.backbone.device)
        logits = step(s.backbone.model, batch.state, input_ids=pauses, meter=batch.meter).logits
        for i in range(batch.size):
            batch.meter.count(i, self.n)
            batch.meter.set_phase(i, "answer")
        answers = s.answer(batch, logits, decoding, seed)
        return [s.record(job, prompt, s.text(ids), s.text(ids), f"<{self.n} pauses>", cost, pauses=self.n)
                for job, prompt, ids, cost in zip(jobs, batch.prompts, answers, batch.meter.results())]


@register_method("pause")
class Pause(Method):
    """Pause tokens: n learned `<pause>` positions before the answer (a control for latent reasoning)."""

    config_class = PauseConfig
    starts_from = "cot"
    reasons = False  # no text reasoning: the prompt asks for the answer, the pauses come before it
    budget = BudgetKnob("inference_pauses", "pause positions")

    def budget_note(self, info: dict[str, Any], value: int) -> str | None:
        n = info.get("n_pauses")
        if n is None or int(n) == value:
            return None
        return f"pause trained with {n} pauses, run with {value}: the answer starts at a position it never learned to answer from"

    def stages(self) -> list[StageSpec]:
        c = self.config
        return [sft_stage(self.name, self.reasons, lambda bb, fmt: PauseGenerator(TextStream(bb, fmt), c.n_pauses),
                          c.val_max_new_tokens, encode=lambda fmt, ex: encode_example(fmt, ex, c.n_pauses),
                          prepare=lambda bb: pause_id(bb, c.init_token))]

    def checkpoint_info(self, ctx: Any) -> dict[str, Any]:
        return {"special_tokens": {"pause": PAUSE}, "n_pauses": self.config.n_pauses}

    def generator(self, ctx: RunContext) -> Generator:
        bb = ctx.load_backbone()
        c = self.config
        n = c.inference_pauses if c.inference_pauses is not None else int(ctx.info.get("n_pauses", c.n_pauses))
        return PauseGenerator(TextStream(bb, ctx.format(bb.tokenizer, self.reasons), ctx.checkpoint), n)

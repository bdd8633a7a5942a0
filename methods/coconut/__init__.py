"""coconut: reasoning in continuous thoughts (Hao et al., arXiv 2412.06769; facebookresearch/coconut).

Training starts from a CoT-SFT checkpoint and runs the multi-stage curriculum (curriculum.py): stage s
replaces the first s reasoning steps with s*c thoughts, each thought being the last hidden state of the
previous position fed back as the next input (latent.py), with gradients through the chain. Each
curriculum stage is one pipeline stage `stage<s>` (one shared-trainer run, so the optimizer is reset at
every stage switch, as in the reference). Inference (generate.py): prompt + `<bot>` + k thoughts +
`<eot>` in one KV cache, then the answer decoded with that cache, batched.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from nfbench.harness.config import StageSettings, TrainerOverrides, option, stages_field
from nfbench.harness.registry import register_method
from nfbench.harness.sft_data import SFTExample
from nfbench.harness.stages import StageRun, StageSpec, TrainContext, Trained
from nfbench.methods.base import BudgetKnob, Generator, Method, RunContext
from nfbench.methods.coconut import curriculum as cur
from nfbench.methods.prompt_format import PromptFormat

SPECIAL = ("<bot>", "<eot>", "<latent>")


@dataclass
class CoconutConfig:
    # curriculum (the reference's ProsQA defaults; GSM8k used c_thought=2, epochs_per_stage=3,
    # max_latent_stage=3, num_epochs=25)
    c_thought: int = option(1, "continuous thoughts per removed reasoning step")
    epochs_per_stage: int = option(5, "epochs of each curriculum stage")
    max_latent_stage: int = option(6, "past it every step is removed (and c_thought x max_latent_stage thoughts used)")
    num_epochs: int = option(50, "total, counting the final all-latent stage's epochs")
    start_epoch: int | None = option(None, "first epoch trained; None = epochs_per_stage: stage 0 (= CoT SFT) is "
                                           "what the CoT model it starts from did (0 with --init-from backbone)")
    pad_latent_to_max: bool = option(True, "thoughts depend on the stage only (fixed k at inference)")
    uniform_prob: float = option(0.0, "chance of training a sample at a uniformly drawn stage")
    # tokens and text
    init_token: str | None = option("<<", "new tokens' embeddings copy this token's, as the reference (None = eos)")
    step_separator: str | None = option(None, 'text between reasoning steps; None: ";" (compact synth) or "\\n" (chat); '
                                              '"": every character is a step (graph with reasoning=nodes)')
    # inference
    n_latents: int | None = option(None, "thoughts at inference; None = those of the last trained stage")
    val_max_new_tokens: int = option(96, "tokens per validation sample while training")
    stages: dict[str, StageSettings] = stages_field()


def split_steps(reasoning: str, sep: str) -> list[str]:
    """Reasoning text -> steps, each keeping its separator so that the steps concatenate back
    (sep "": one step per character)."""
    if not sep:
        parts = list(reasoning) + [""]
    else:
        parts = reasoning.split(sep)
    steps = [p + sep for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    if len(steps) > 1 and not steps[-1].strip():  # trailing newline: part of the last step
        tail = steps.pop()  # (popped first: `steps[-2] += steps.pop()` indexes a list one shorter)
        steps[-1] += tail
    return [s for s in steps if s]


def special_ids(backbone: Any, init_token: str | None) -> dict[str, int]:
    """Ids of `<bot>`, `<eot>`, `<latent>`, added to the backbone where missing (a checkpoint has them)."""
    from nfbench.harness.backbone import add_special_tokens

    return dict(zip(("bot", "eot", "latent"), add_special_tokens(backbone, list(SPECIAL), init_from=init_token)))


def separator(option: str | None, fmt: PromptFormat) -> str:
    """The text between reasoning steps: the option, else the format's (";" compact synth, "\n" chat)."""
    return option if option is not None else (";" if fmt.compact else "\n")


def text_steps(ex: SFTExample, fmt: PromptFormat, sep: str) -> tuple[list[str], str]:
    """(reasoning steps, answer) in the CoT model's format: they concatenate to its SFT target."""
    if fmt.compact:
        return split_steps(ex.reasoning, sep), fmt.answer_target(ex)
    return (split_steps(ex.reasoning.strip() + "\n\n", sep) if ex.reasoning else []), fmt.answer_target(ex)


def encode_sample(ex: SFTExample, fmt: PromptFormat, sep: str) -> tuple[list[int], list[list[int]], list[int]]:
    """(question ids, step ids, answer ids + eos)."""
    tok = fmt.tokenizer
    steps, answer = text_steps(ex, fmt, sep)
    enc = lambda text: tok(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    return fmt.example_prompt_ids(ex), [enc(s) for s in steps], enc(answer) + [tok.eos_token_id]


class StageData:
    """The training set of one stage: built on access (uniform stage mixing draws per sample)."""

    def __init__(self, samples: list[tuple[list[int], list[list[int]], list[int]]], stage: int,
                 ids: dict[str, int], cfg: CoconutConfig, seed: int):
        self.samples, self.stage, self.ids, self.cfg, self.seed = samples, stage, ids, cfg, seed

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> cur.Example:
        q, steps, answer = self.samples[i]
        rng = random.Random(f"{self.seed}/{self.stage}/{i}")
        return cur.build_example(q, steps, answer, self.stage, self.ids, max_latent_stage=self.cfg.max_latent_stage,
                                 c_thought=self.cfg.c_thought, pad_latent_to_max=self.cfg.pad_latent_to_max,
                                 rng=rng, uniform_prob=self.cfg.uniform_prob)


def collate_fn(pad_id: int):
    import torch

    def collate(examples: list[cur.Example]) -> dict[str, torch.Tensor]:
        b = cur.collate(examples, pad_id)
        return {"input_ids": torch.tensor(b.input_ids), "labels": torch.tensor(b.labels),
                "attention_mask": torch.tensor(b.attention_mask)}
    return collate


def latent_loss(latent_id: int):
    import torch

    from nfbench.methods.coconut.latent import latent_forward

    def loss_fn(model, batch):
        logits, passes = latent_forward(model, batch["input_ids"], batch["attention_mask"], latent_id)
        labels = batch["labels"]
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(),
                                                 ignore_index=cur.IGNORE)
        return loss, {"passes": float(passes), "target_tokens": float((labels != cur.IGNORE).sum())}
    return loss_fn


@register_method("coconut")
class Coconut(Method):
    """Coconut: continuous thoughts (last hidden state fed back) learned by a CoT->latent curriculum."""

    config_class = CoconutConfig
    starts_from = "cot"
    budget = BudgetKnob("n_latents", "continuous thoughts", minimum=0)
    trains_with_cache = True  # latent.py: one pass per thought on a shared DynamicCache

    def budget_note(self, info: dict[str, Any], value: int) -> str | None:
        k = info.get("inference_latents")
        if k is None or int(k) == value:
            return None
        what = ("the last reasoning steps get no thought: the answer must come from fewer" if value < int(k)
                else "thoughts past the trained ones continue a chain the curriculum never trained")
        return f"coconut trained with {k} thoughts (its last curriculum stage), run with {value}: {what}"

    def curriculum(self) -> list[tuple[int, int]]:
        mc = self.config
        start = mc.epochs_per_stage if mc.start_epoch is None else mc.start_epoch
        return cur.stage_runs(mc.num_epochs, mc.epochs_per_stage, start)

    def stages(self) -> list[StageSpec]:
        runs, specs = self.curriculum(), []
        for i, (stage, epochs) in enumerate(runs):
            needs = ("reasoning",) + ((f"stage{runs[i - 1][0]}",) if i else ())
            specs.append(StageSpec(f"stage{stage}", self._stage_trainer(stage, needs[1:]), needs=needs,
                                   # the reference's AdamW has no scheduler: constant lr after warmup
                                   trainer=TrainerOverrides(epochs=float(epochs), schedule="constant")))
        return specs

    def checkpoint_info(self, ctx: TrainContext) -> dict[str, Any]:
        mc, runs = self.config, self.curriculum()
        fmt = ctx.format(ctx.backbone().tokenizer)
        sep = separator(mc.step_separator, fmt)
        n_steps = [len(text_steps(e, fmt, sep)[0]) for e in ctx.examples]
        k = cur.layout(max(n_steps), runs[-1][0], mc.max_latent_stage, mc.c_thought, True)[1] if runs else 0
        return {"special_tokens": dict(zip(("bot", "eot", "latent"), SPECIAL)), "inference_latents": k,
                "curriculum": [{"stage": s, "epochs": e} for s, e in runs], "step_separator": sep,
                "mean_steps": sum(n_steps) / max(1, len(n_steps))}

    def _stage_trainer(self, stage: int, previous: tuple[str, ...]):
        def train(run: StageRun) -> Trained:
            from dataclasses import replace

            from nfbench.harness.trainer import Stage, train_stage
            from nfbench.methods.coconut.generate import CoconutGenerator
            from nfbench.methods.text_stream import TextStream

            ctx, mc = run.ctx, self.config
            bb = ctx.load_backbone(run.dir(previous[0])) if previous else ctx.backbone()
            ids = special_ids(bb, mc.init_token)
            fmt = ctx.format(bb.tokenizer)
            samples = [encode_sample(e, fmt, separator(mc.step_separator, fmt)) for e in ctx.examples]
            k = cur.layout(max(len(s[1]) for s in samples), stage, mc.max_latent_stage, mc.c_thought, True)[1]
            validate = ctx.validator(run.trainer, lambda m: CoconutGenerator(TextStream(replace(bb, model=m), fmt), ids, k),
                                     mc.val_max_new_tokens)
            job = Stage(name=f"coconut-stage{stage}", out_dir=run.out, model=bb.model.train(),
                        dataset=StageData(samples, stage, ids, mc, ctx.config.seed),
                        collate=collate_fn(bb.tokenizer.pad_token_id), loss_fn=latent_loss(ids["latent"]),
                        config=run.trainer, validate=validate, seed=ctx.config.seed + stage)
            result = train_stage(job)
            bb.model = job.model.eval()  # unwrapped by the trainer
            return Trained(result.steps, result.last_metrics, save=lambda out: bb.save(out, backbone=ctx.config.backbone),
                           info={"latents": k})
        return train

    def generator(self, ctx: RunContext) -> Generator:
        from nfbench.methods.coconut.generate import CoconutGenerator
        from nfbench.methods.text_stream import TextStream

        mc = self.config
        k = mc.n_latents if mc.n_latents is not None else ctx.info.get(
            "inference_latents", cur.inference_latents(mc.max_latent_stage, mc.c_thought))
        bb = ctx.load_backbone()
        return CoconutGenerator(TextStream(bb, ctx.format(bb.tokenizer), ctx.checkpoint), special_ids(bb, mc.init_token),
                                int(k))

"""Supervised fine-tuning on (prompt, target) sequences: the one stage of `cot`, `direct` and `pause`.

Each training example becomes prompt ids + target ids + eos with the loss on the target only
(harness/batching.py), through the shared trainer; the product is the backbone with its tokenizer.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from nfbench.harness.sft_data import SFTExample
from nfbench.harness.stages import StageRun, StageSpec, Trained
from nfbench.methods.prompt_format import PromptFormat

# (format, example) -> {"input_ids", "labels"}; the default is the format's prompt and target
Encode = Callable[[PromptFormat, SFTExample], dict[str, list[int]]]


def encode_target(fmt: PromptFormat, ex: SFTExample) -> dict[str, list[int]]:
    from nfbench.harness.batching import encode

    return encode(fmt.tokenizer, fmt.example_prompt_ids(ex), fmt.target(ex))


def sft_stage(method: str, reasons: bool, generator: Callable[[Any, PromptFormat], Any], val_max_new_tokens: int,
              encode: Encode = encode_target, prepare: Callable[[Any], None] | None = None,
              needs: tuple[str, ...] = ()) -> StageSpec:
    """The SFT stage of a text-stream method. `generator(backbone, fmt)` validates (greedy pass@1);
    `prepare(backbone)` runs before encoding (e.g. adding the method's special tokens)."""

    def train(run: StageRun) -> Trained:
        from nfbench.harness.batching import causal_lm_loss, pad_collate
        from nfbench.harness.trainer import Stage, train_stage

        ctx = run.ctx
        bb = ctx.backbone()
        if prepare is not None:
            prepare(bb)
        fmt = ctx.format(bb.tokenizer, reasons)
        data = [encode(fmt, e) for e in ctx.examples]
        validate = ctx.validator(run.trainer, lambda model: generator(replace(bb, model=model), fmt), val_max_new_tokens)
        stage = Stage(name=f"{method}-{run.spec.name}", out_dir=run.out, model=bb.model.train(), dataset=data,
                      collate=pad_collate(bb.tokenizer.pad_token_id), loss_fn=causal_lm_loss, config=run.trainer,
                      validate=validate, seed=ctx.config.seed)
        result = train_stage(stage)
        bb.model = stage.model.eval()
        return Trained(result.steps, result.last_metrics, save=lambda out: bb.save(out, backbone=ctx.config.backbone))

    return StageSpec("sft", train, needs=needs)

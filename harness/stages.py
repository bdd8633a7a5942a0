"""Training pipelines: a method's list of stages, run by one runner for every method.

A stage (StageSpec) names what it needs (earlier stages, whose products it loads from their folders,
and requirements: "task", "reasoning", "sandbox"), what it produces ("model": a loadable checkpoint in
its folder; "state": something only later stages read) and its trainer overrides. Its `train`
function trains it through the shared trainer and returns the result and how to save its product.

The runner owns everything around the stages:
  - the checkpoint folder `results/checkpoints/<method>/<name>/`: one folder per stage, a done marker
    in each (`stage_done.json`, written once the product is saved), and at the root a copy of the last
    finished model stage and `checkpoint.json` (complete once every stage is done);
  - a context shared by the stages (the starting backbone, the task, the training examples, one
    sandbox for the whole training);
  - `--stage` (one stage, or a group: `stage1` = every `stage1-*`), resuming (finished stages are
    not rerun; an interrupted one resumes from its trainer state), and the checks of every stage's
    preconditions before the first one starts;
  - per-stage trainer settings: the run's `trainer`, then the stage's own overrides, then
    `method_config.stages.<name>.trainer`.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from nfbench.harness import checkpoints as ck
from nfbench.harness.config import (TRAINER_RULES, TrainConfig, TrainerConfig, TrainerOverrides, apply_overrides,
                                    check_values, to_dict)
from nfbench.harness.errors import UserError
from nfbench.harness.sft_data import SFTExample

DONE = "stage_done.json"
REQUIREMENTS = ("task", "reasoning", "sandbox")
VALIDATION_BATCH = 16


@dataclass
class Trained:
    """What a stage's `train` returns; the runner saves the product (on the main process) and marks it done."""

    steps: int
    metrics: dict[str, float]
    save: Callable[[Path], None]  # writes the stage's product into the folder it is given
    info: dict[str, Any] = field(default_factory=dict)  # recorded with the stage (e.g. diagnostics)


@dataclass(frozen=True)
class StageSpec:
    name: str  # its folder and its `--stage` name
    train: Callable[[StageRun], Trained]
    needs: tuple[str, ...] = ()  # earlier stage names and REQUIREMENTS
    produces: Literal["model", "state"] = "model"
    trainer: TrainerOverrides = field(default_factory=TrainerOverrides)  # the method's defaults (the paper's)


@dataclass
class StageRun:
    """One stage's view of the training: where it writes, its trainer settings, the shared context."""

    ctx: TrainContext
    spec: StageSpec
    out: Path
    trainer: TrainerConfig

    def dir(self, stage: str) -> Path:
        """The folder of an earlier stage (one this stage `needs`), to load its product."""
        return self.ctx.root / stage


class TrainContext:
    """What every stage of one `nfbench train` shares."""

    def __init__(self, config: TrainConfig, method: Any, task: Any, examples: list[SFTExample], start: str, root: Path):
        self.config, self.method, self.task, self.examples = config, method, task, examples
        self.start = start  # the starting weights (harness/checkpoints.resolve_start)
        self.root = root
        self._backbone: Any = None
        self._sandbox: Any = None
        self._stack = ExitStack()

    def backbone(self) -> Any:
        """The starting weights, loaded once, in float32 master weights unless a dtype was set (the
        trainer autocasts to bf16 on GPU). Stages that continue an earlier stage load its folder instead."""
        if self._backbone is None:
            self._backbone = self.load_backbone(self.start)
        return self._backbone

    def load_backbone(self, spec: str | Path) -> Any:
        from nfbench.harness.backbone import load_backbone

        cfg = self.config
        return load_backbone(str(spec), device=cfg.device, dtype=self.dtype, seed=cfg.seed)

    @property
    def dtype(self) -> str:
        return "float32" if self.config.dtype == "auto" else self.config.dtype

    def format(self, tokenizer: Any, reasons: bool = True) -> Any:
        from nfbench.methods.prompt_format import PromptFormat

        return PromptFormat(self.task, tokenizer, reasons, trained=True)

    @property
    def sandbox(self) -> Any:
        """The one sandbox of this training (validation and rewards), started before the first stage."""
        if self._sandbox is None:
            from nfbench.sandbox.executor import Sandbox

            self._sandbox = self._stack.enter_context(Sandbox(kind=self.config.sandbox))
        return self._sandbox

    def validation_on(self, trainer: TrainerConfig) -> bool:
        return self.task is not None and "validation" in self.task.splits() and trainer.eval_problems > 0

    def validator(self, trainer: TrainerConfig, generator: Callable[[Any], Any],
                  max_new_tokens: int) -> Callable[[Any], dict[str, float]] | None:
        """Greedy pass@1 through the sandbox on the first `eval_problems` validation problems, with the
        generator `generator(model)` builds around the model being trained; None when validation is off."""
        if not self.validation_on(trainer):
            return None
        from nfbench.methods.base import Decoding, generate

        problems = self.task.problems("validation")[:trainer.eval_problems]
        by_id = {p.task_id: p for p in problems}
        decoding = Decoding(max_new_tokens=max_new_tokens, batch_size=VALIDATION_BATCH)

        def validate(model: Any) -> dict[str, float]:
            gens = generate(generator(model), problems, 1, 0, decoding)
            verdicts = list(self.sandbox.execute((by_id[g.task_id], g.sample_idx, g.solution) for g in gens))
            return {"pass@1": sum(v.base_status == "pass" for v in verdicts) / max(1, len(verdicts))}

        return validate

    def close(self) -> None:
        self._stack.close()


def stage_trainer(cfg: TrainConfig, spec: StageSpec, settings: dict[str, Any]) -> TrainerConfig:
    """The run's trainer, then the stage's defaults, then `method_config.stages.<name>.trainer`."""
    own = settings.get(spec.name)
    trainer = apply_overrides(cfg.trainer, spec.trainer, *([own.trainer] if own else []))
    check_values(trainer, TRAINER_RULES, f"method_config.stages.{spec.name}.trainer.")
    return trainer


def plan(specs: list[StageSpec], settings: dict[str, Any], stage: str | None, method: str) -> tuple[list[StageSpec], list[StageSpec]]:
    """(the pipeline without skipped stages, the stages this command runs), or a UserError."""
    names = [s.name for s in specs]
    unknown = [k for k in settings if k not in names]
    if unknown:
        raise UserError(f"method_config.stages has no stage '{unknown[0]}' for {method}",
                        f"{method}'s stages: {', '.join(names)}")
    pipeline = [s for s in specs if not (s.name in settings and settings[s.name].skip)]
    if stage is None:
        return pipeline, pipeline
    chosen = [s for s in pipeline if s.name == stage or s.name.startswith(f"{stage}-")]
    if not chosen:
        raise UserError(f"{method} has no stage '{stage}'", f"choose one of: {', '.join(s.name for s in pipeline)}")
    return pipeline, chosen


def check_preconditions(ctx: TrainContext, pipeline: list[StageSpec], todo: list[StageSpec]) -> None:
    """Every precondition of every stage to run, before the first one starts."""
    names = [s.name for s in pipeline]
    method, name = ctx.method.name, ctx.config.name
    for spec in todo:
        for need in spec.needs:
            if need == "task" and ctx.task is None:
                raise UserError(f"{method} stage '{spec.name}' needs a task (its problems' unit tests), "
                                f"not the JSONL set '{ctx.config.data}'", "train with --data <task>, e.g. synth")
            if need == "reasoning" and not any(e.reasoning for e in ctx.examples):
                raise UserError(f"{method} learns from chains of thought, and the training data has none",
                                "train on a task with reasoning (synth) or a CoT set from `nfbench data`")
            if need in REQUIREMENTS:
                continue
            if need not in names:
                raise UserError(f"{method} stage '{spec.name}' needs stage '{need}', which "
                                f"method_config.stages.{need}.skip leaves out", f"do not skip '{need}'")
            earlier = todo[:todo.index(spec)]
            if need not in [s.name for s in earlier] and not (ctx.root / need / DONE).is_file():
                raise UserError(f"stage '{need}' of {ctx.root} has not finished",
                                f"run it first: nfbench train {method} --stage {need} (same --name {name}/--config)")


def run(method: Any, cfg: TrainConfig, task: Any, examples: list[SFTExample]) -> Path:
    """Train `method`'s pipeline (or the `--stage` part of it); returns the checkpoint directory."""
    from nfbench.harness.trainer import barrier, is_main_process

    settings = method.config.stages
    pipeline, todo = plan(method.stages(), settings, cfg.stage, method.name)
    root = ck.checkpoint_dir(method.name, cfg.name, cfg.out)
    start = ck.resolve_start(method, cfg)
    ctx = TrainContext(cfg, method, task, examples, start, root)
    check_preconditions(ctx, pipeline, todo)
    trainers = {s.name: stage_trainer(cfg, s, settings) for s in todo}
    if method.trains_with_cache and any(t.gradient_checkpointing for t in trainers.values()):
        raise UserError(f"{method.name} reuses a KV cache in its training passes, which gradient checkpointing drops",
                        "set trainer.gradient_checkpointing=false (and a smaller batch_size with grad_accum)")
    info = {"method": method.name, "backbone": cfg.backbone, "train_config": to_dict(cfg), "init_from": start,
            "data": {"source": cfg.data, "n": len(examples), "sha256": ck.data_sha256(e.to_dict() for e in examples)}}
    try:
        if any("sandbox" in s.needs or ctx.validation_on(trainers[s.name]) for s in todo):
            ctx.sandbox  # noqa: B018 - start it now: a sandbox that cannot start fails before hours of training
        info.update(method.checkpoint_info(ctx))
        if is_main_process() and not all((root / s.name / DONE).is_file() for s in todo):
            ck.write_info(root, complete=False, **info)  # a finished checkpoint stays complete on a rerun
        for spec in todo:
            out = root / spec.name
            if (out / DONE).is_file():
                continue
            out.mkdir(parents=True, exist_ok=True)
            began = time.time()
            trained = spec.train(StageRun(ctx, spec, out, trainers[spec.name]))
            if is_main_process():
                trained.save(out)
                record = {"steps": trained.steps, "metrics": trained.metrics, "seconds": round(time.time() - began, 1),
                          "trainer": to_dict(trainers[spec.name]), **trained.info}
                (out / DONE).write_text(json.dumps(record, indent=1))
            barrier()  # the next stage (on every rank) may load this one's product
    finally:
        ctx.close()
    if is_main_process():
        publish(root, pipeline, info)
    barrier()
    return root


def publish(root: Path, pipeline: list[StageSpec], info: dict[str, Any]) -> None:
    """The root holds a copy of the last finished model stage (what `nfbench run` loads) and
    checkpoint.json with every finished stage's record."""
    done = [s for s in pipeline if (root / s.name / DONE).is_file()]
    models = [s for s in done if s.produces == "model"]
    if models:
        for f in (root / models[-1].name).iterdir():
            if f.is_file() and f.name not in (DONE, "metrics.csv"):
                _link_or_copy(f, root / f.name)
    stages = [{"name": s.name, **json.loads((root / s.name / DONE).read_text())} for s in done]
    ck.write_info(root, complete=len(done) == len(pipeline), final_stage=models[-1].name if models else None,
                  stages=stages, train_seconds=round(sum(s.get("seconds", 0) for s in stages), 1), **info)


def _link_or_copy(src: Path, dst: Path) -> None:
    """A hard link where the file system allows (no second copy of the weights), else a copy."""
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)

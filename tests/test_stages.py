"""The stage runner (harness/stages.py): done markers, `--stage`, skipping, per-stage trainer settings,
publishing the last model stage, and every precondition checked before the first stage starts."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from nfbench.harness import stages
from nfbench.harness.config import StageSettings, TrainConfig, TrainerConfig, TrainerOverrides, stages_field
from nfbench.harness.errors import UserError
from nfbench.harness.sft_data import SFTExample
from nfbench.harness.stages import StageRun, StageSpec, Trained
from nfbench.methods.base import Method

EXAMPLES = [SFTExample("t/0", "p", "r", "s")]


@dataclass
class ToyConfig:
    stages: dict[str, StageSettings] = stages_field()


class Toy(Method):
    """A three-stage pipeline whose stages write what they saw."""

    name = "toy"
    config_class = ToyConfig

    def __init__(self, config: ToyConfig, fail_in: str | None = None):
        super().__init__(config)
        self.calls: list[str] = []
        self.fail_in = fail_in

    def stage(self, name: str):
        def train(run: StageRun) -> Trained:
            self.calls.append(name)
            for need in run.spec.needs:
                if need not in stages.REQUIREMENTS:
                    assert (run.dir(need) / f"{need}.txt").read_text() == need  # an earlier product, from its folder
            if name == self.fail_in:
                raise KeyboardInterrupt("interrupted")
            return Trained(3, {"loss": 0.5}, save=lambda out: (out / f"{name}.txt").write_text(name),
                           info={"lr_seen": run.trainer.lr, "warmup_seen": run.trainer.warmup_steps})
        return train

    def stages(self) -> list[StageSpec]:
        return [StageSpec("prep", self.stage("prep"), produces="state", trainer=TrainerOverrides(lr=1e-2)),
                StageSpec("main", self.stage("main"), needs=("prep",), trainer=TrainerOverrides(lr=2e-2, warmup_steps=5)),
                StageSpec("polish", self.stage("polish"), needs=("main",))]

    def generator(self, ctx):  # pragma: no cover - not run here
        raise NotImplementedError


def run(tmp_path: Path, settings: dict | None = None, stage: str | None = None, fail_in: str | None = None,
        task=None) -> tuple[Toy, Path]:
    method = Toy(ToyConfig({k: StageSettings(**v) for k, v in (settings or {}).items()}), fail_in)
    cfg = TrainConfig(method="toy", backbone="tiny-llama", out=str(tmp_path / "ckpt"), stage=stage,
                      trainer=TrainerConfig(lr=1e-3, warmup_steps=7, eval_problems=0), method_config=method.config)
    return method, stages.run(method, cfg, task, EXAMPLES)


def info(root: Path) -> dict:
    return json.loads((root / "checkpoint.json").read_text())


def test_the_pipeline_runs_once_publishes_its_last_model_stage_and_records_every_stage(tmp_path):
    method, root = run(tmp_path, {"polish": {"trainer": TrainerOverrides(lr=3e-2)}})
    assert method.calls == ["prep", "main", "polish"]
    meta = info(root)
    assert meta["complete"] and meta["final_stage"] == "polish" and meta["init_from"] == "tiny-llama"
    assert [s["name"] for s in meta["stages"]] == ["prep", "main", "polish"]
    # trainer settings: the run's, then the stage's defaults, then method_config.stages.<name>.trainer
    seen = {s["name"]: (s["lr_seen"], s["warmup_seen"]) for s in meta["stages"]}
    assert seen == {"prep": (1e-2, 7), "main": (2e-2, 5), "polish": (3e-2, 7)}
    assert meta["stages"][1]["trainer"]["lr"] == 2e-2 and meta["stages"][1]["steps"] == 3
    assert (root / "polish.txt").is_file() and not (root / "prep.txt").exists()  # the root holds the model stage's files
    again, _ = run(tmp_path)
    assert again.calls == []  # finished stages are not rerun


def test_stage_runs_part_of_the_pipeline_and_refuses_one_whose_need_has_not_finished(tmp_path):
    with pytest.raises(UserError, match="stage 'prep' of .* has not finished.*--stage prep"):
        run(tmp_path, stage="main")
    assert not (tmp_path / "ckpt").exists()  # refused before anything was written
    method, root = run(tmp_path, stage="prep")
    assert method.calls == ["prep"] and not info(root)["complete"] and info(root)["final_stage"] is None
    method, root = run(tmp_path, stage="main")
    assert method.calls == ["main"] and info(root)["final_stage"] == "main" and not info(root)["complete"]
    with pytest.raises(UserError, match="toy has no stage 'shine'"):
        run(tmp_path, stage="shine")


def test_an_interrupted_stage_has_no_done_marker_and_runs_again(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, fail_in="main")
    root = tmp_path / "ckpt"
    assert (root / "prep" / stages.DONE).is_file() and not (root / "main" / stages.DONE).exists()
    method, _ = run(tmp_path)
    assert method.calls == ["main", "polish"]


def test_skipped_stages_and_bad_settings_are_refused_before_any_stage(tmp_path):
    method, root = run(tmp_path, {"polish": {"skip": True}})
    assert method.calls == ["prep", "main"] and info(root)["complete"] and info(root)["final_stage"] == "main"
    with pytest.raises(UserError, match="needs stage 'prep', which method_config.stages.prep.skip leaves out"):
        run(tmp_path / "b", {"prep": {"skip": True}})
    with pytest.raises(UserError, match="method_config.stages has no stage 'mian'"):
        run(tmp_path / "c", {"mian": {}})
    with pytest.raises(UserError, match="method_config.stages.main.trainer.lr=-1"):
        run(tmp_path / "d", {"main": {"trainer": TrainerOverrides(lr=-1.0)}})
    for bad in ("b", "c", "d"):
        assert not (tmp_path / bad / "ckpt").exists()


class NeedsTask(Toy):
    def stages(self) -> list[StageSpec]:
        return [*super().stages()[:2], StageSpec("rl", self.stage("rl"), needs=("main", "task"))]


def test_a_late_stage_that_needs_a_task_fails_before_the_first_stage(tmp_path):
    method = NeedsTask(ToyConfig())
    cfg = TrainConfig(method="toy", backbone="tiny-llama", out=str(tmp_path / "ckpt"), method_config=method.config)
    with pytest.raises(UserError, match="stage 'rl' needs a task"):
        stages.run(method, cfg, None, EXAMPLES)
    assert method.calls == []

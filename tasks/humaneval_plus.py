"""HumanEval+ v0.1.10: HumanEval with evalplus's extra tests (base and plus verdicts)."""
from __future__ import annotations

from typing import Any

from nfbench.harness.registry import register_task
from nfbench.harness.types import Problem
from nfbench.tasks.base import Task
from nfbench.tasks.data import FILES, data_file, file_info, read_records
from nfbench.tasks.evalplus_rows import evalplus_problem


@register_task("humaneval+")
class HumanEvalPlusTask(Task):
    """HumanEval+ (evalplus v0.1.10): the 164 HumanEval problems with 80x more tests."""

    source = "evalplus/humanevalplus_release v0.1.10 (Liu et al. 2023), built on OpenAI HumanEval"
    licence = "Apache-2.0 (+ MIT terms of HumanEval)"
    has_plus = True
    default_split = "test"

    def _rows(self) -> list[dict[str, Any]]:
        if not hasattr(self, "_cache"):
            self._cache = read_records(data_file("humaneval+", self.data_dir))
        return self._cache

    def splits(self) -> dict[str, int]:
        return {"test": len(self._rows())}

    def problems(self, split: str | None = None) -> list[Problem]:
        self.resolve_split(split)
        return [evalplus_problem(r, "humaneval") for r in self._rows()]

    def dataset_info(self) -> dict[str, Any]:
        return file_info("humaneval+", FILES["humaneval+"][1], data_file("humaneval+", self.data_dir))

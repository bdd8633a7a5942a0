"""MBPP+ v0.2.0: 378 MBPP problems with evalplus's extra tests (base and plus verdicts)."""
from __future__ import annotations

from typing import Any

from nfbench.harness.registry import register_task
from nfbench.harness.types import Problem
from nfbench.tasks.base import Task
from nfbench.tasks.data import FILES, data_file, file_info, read_records
from nfbench.tasks.evalplus_rows import evalplus_problem


@register_task("mbpp+")
class MbppPlusTask(Task):
    """MBPP+ (evalplus v0.2.0): 378 sanitized MBPP problems with 35x more tests."""

    source = "evalplus/mbppplus_release v0.2.0 (Liu et al. 2023), built on Google MBPP"
    licence = "Apache-2.0 (+ CC-BY-4.0 of MBPP)"
    has_plus = True
    default_split = "test"

    def _rows(self) -> list[dict[str, Any]]:
        if not hasattr(self, "_cache"):
            self._cache = read_records(data_file("mbpp+", self.data_dir))
        return self._cache

    def splits(self) -> dict[str, int]:
        return {"test": len(self._rows())}

    def problems(self, split: str | None = None) -> list[Problem]:
        self.resolve_split(split)
        return [evalplus_problem(r, "mbpp") for r in self._rows()]

    def dataset_info(self) -> dict[str, Any]:
        return file_info("mbpp+", FILES["mbpp+"][1], data_file("mbpp+", self.data_dir))

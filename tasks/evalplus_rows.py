"""Problems from evalplus release rows (HumanEval+ and MBPP+): base and plus test inputs."""
from __future__ import annotations

import ast
import functools
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nfbench.harness.types import Problem, TestSpec
from nfbench.tasks.base import Task
from nfbench.tasks.data import FILES, data_file, file_info, read_records


def evalplus_problem(row: dict[str, Any], dataset: str) -> Problem:
    """One evalplus row -> Problem; inputs are Python objects (MBPP+ tuples/sets restored as evalplus does)."""
    base, plus = row["base_input"], row["plus_input"]
    if dataset == "mbpp":
        deserialize = mbpp_deserialize_inputs()
        base = deserialize(row["task_id"], base)
        plus = deserialize(row["task_id"], plus)
    return Problem(
        task_id=row["task_id"],
        prompt=row["prompt"],
        entry_point=row["entry_point"],
        # evalplus runs prompt + canonical_solution as the ground truth; so do we
        canonical_solution=row["prompt"] + row["canonical_solution"],
        tests=TestSpec(kind="evalplus", base_inputs=base, plus_inputs=plus, atol=float(row["atol"] or 0.0),
                       dataset=dataset),
        meta={"contract": row.get("contract", ""), "original_tests": row.get("test") or row.get("assertion", "")},
    )


@functools.cache
def mbpp_deserialize_inputs() -> Callable[[str, list], list]:
    """evalplus's own `mbpp_deserialize_inputs` (which MBPP+ inputs are tuples or sets), taken from its
    source file: importing `evalplus.data.mbpp` runs `evalplus.data/__init__`, which imports the
    `datasets` library (~1 s of every eval) for loaders nfbench never calls."""
    if "evalplus.data.mbpp" in sys.modules:
        return sys.modules["evalplus.data.mbpp"].mbpp_deserialize_inputs
    spec = importlib.util.find_spec("evalplus")
    path = Path(spec.submodule_search_locations[0]) / "data" / "mbpp.py"
    tree = ast.parse(path.read_text(), str(path))
    fn = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "mbpp_deserialize_inputs"]
    namespace: dict[str, Any] = {}
    exec(compile(ast.Module(body=fn, type_ignores=[]), str(path), "exec"), namespace)
    return namespace["mbpp_deserialize_inputs"]


class EvalplusTask(Task):
    """A task read from one evalplus release file: a single test split with base and plus verdicts."""

    has_plus = True
    default_split = "test"
    data_key: str  # key of tasks/data.py FILES
    dataset: str  # evalplus dataset name: "humaneval" | "mbpp"

    @functools.cached_property
    def _rows(self) -> list[dict[str, Any]]:
        return read_records(data_file(self.data_key, self.data_dir))

    def splits(self) -> dict[str, int]:
        return {"test": len(self._rows)}

    def problems(self, split: str | None = None) -> list[Problem]:
        self.resolve_split(split)
        return [evalplus_problem(r, self.dataset) for r in self._rows]

    def dataset_info(self) -> dict[str, Any]:
        return file_info(self.data_key, FILES[self.data_key][1], data_file(self.data_key, self.data_dir))

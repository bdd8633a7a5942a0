"""Problems from evalplus release rows (HumanEval+ and MBPP+): base and plus test inputs."""
from __future__ import annotations

from typing import Any

from nfbench.harness.types import Problem, TestSpec


def evalplus_problem(row: dict[str, Any], dataset: str) -> Problem:
    """One evalplus row -> Problem; inputs are Python objects (MBPP+ tuples/sets restored as evalplus does)."""
    base, plus = row["base_input"], row["plus_input"]
    if dataset == "mbpp":
        from evalplus.data.mbpp import mbpp_deserialize_inputs

        base = mbpp_deserialize_inputs(row["task_id"], base)
        plus = mbpp_deserialize_inputs(row["task_id"], plus)
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

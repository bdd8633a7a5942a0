"""Fallback loader of HumanEval+ / MBPP+ as Problems (used until/unless tasks/ provides them)."""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

from nfbench.harness.types import Problem, TestSpec

FILES = {"humaneval": "evalplus/HumanEvalPlus.jsonl.gz", "mbpp": "evalplus/MbppPlus.jsonl.gz"}


def data_path(dataset: str) -> Path:
    root = Path(os.environ.get("NFBENCH_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
    return root / FILES[dataset]


def load(dataset: str) -> list[Problem]:
    """Rows as evalplus.data.get_*_plus returns them (MBPP+ inputs deserialised the evalplus way)."""
    from evalplus.data.mbpp import mbpp_deserialize_inputs

    out = []
    with gzip.open(data_path(dataset), "rt") as f:
        for line in f:
            row = json.loads(line)
            base, plus = row["base_input"], row["plus_input"]
            if dataset == "mbpp":
                base = mbpp_deserialize_inputs(row["task_id"], base)
                plus = mbpp_deserialize_inputs(row["task_id"], plus)
            spec = TestSpec(kind="evalplus", base_inputs=base, plus_inputs=plus, atol=row["atol"], dataset=dataset)
            out.append(Problem(row["task_id"], row["prompt"], row["entry_point"],
                               row["prompt"] + row["canonical_solution"], spec))
    return out

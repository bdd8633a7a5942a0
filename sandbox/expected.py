"""What a worker needs to check one problem, and the host-side cache of its ground truth.

Ground truth: for evalplus problems the expected outputs and reference times; for assert problems
the reference solution's seconds per assert (the per-assert limits scale with them). Both are
computed by the canonical solution inside the sandbox (in parallel, once per problem content) and
cached under ~/.cache/nfbench/expected/ (NFBENCH_CACHE_DIR overrides the root).
The host never unpickles outputs: they stay compressed pickles that only judges open; the host
keeps them as bytes next to the reference times, and reads its cache with a data-only unpickler.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
from pathlib import Path
from typing import Any

from nfbench.harness.types import Problem
from nfbench.sandbox.asserts import plan as assert_plan

# Bump when the meaning of a cached entry changes (e.g. a new evalplus or judge semantics).
# v3: recomputed outputs ("R<n>" blobs); v4: the judge/candidate split (reference times of asserts
# are measured from the judge's side, as the limits are); v5: big outputs ship as their version-4
# encodings, made by the ground-truth job (sandbox/container/judge_truth.py big_encoding)
CACHE_VERSION = "evalplus-0.3.1-v5"
# Output types seen in HumanEval+/MBPP+ ground truth (Mbpp/88 returns a Counter); no callables
# beyond the plain types a defaultdict may name as its factory.
_SAFE = {"builtins": {"set", "frozenset", "complex", "bytearray", "slice", "range", "int", "float",
                      "str", "bytes", "list", "dict", "tuple", "bool"},
         "collections": {"Counter", "OrderedDict", "defaultdict", "deque"}}


class SafeUnpickler(pickle.Unpickler):
    """Plain data only: containers, numbers, strings; no class can be looked up."""

    def find_class(self, module: str, name: str) -> Any:
        if name in _SAFE.get(module, ()):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def safe_loads(data: bytes) -> Any:
    return SafeUnpickler(io.BytesIO(data)).load()


def _stable(x: Any) -> Any:
    """A JSON-able, hash-seed-independent form of test inputs (sets are sorted)."""
    if isinstance(x, (list, tuple)):
        return [type(x).__name__, [_stable(i) for i in x]]
    if isinstance(x, (set, frozenset)):
        return [type(x).__name__, sorted(json.dumps(_stable(i)) for i in x)]
    if isinstance(x, dict):
        return ["dict", sorted((json.dumps(_stable(k)), _stable(v)) for k, v in x.items())]
    if isinstance(x, (float, complex)):
        return [type(x).__name__, repr(x)]
    if x is None or isinstance(x, (bool, int, str)):
        return x
    return [type(x).__name__, repr(x)]


def _stable_text(x: Any) -> str:
    """repr() where it reads the same in every process (~10x faster than _stable): nothing whose
    order can vary (a set, or a dict) inside."""
    text = repr(x)
    return text if "{" not in text else json.dumps(_stable(x))


def problem_key(problem: Problem) -> str:
    t = problem.tests
    content = [CACHE_VERSION, t.kind, problem.task_id, problem.entry_point, problem.canonical_solution]
    if t.kind == "evalplus":
        content += [t.dataset, repr(t.atol), _stable_text(t.base_inputs), _stable_text(t.plus_inputs)]
    elif t.kind == "io":
        content += [t.func_name, repr(t.time_limit), t.io_tests]
    else:
        content += [t.setup, t.asserts, t.plus_asserts]
    return hashlib.sha256(json.dumps(content).encode()).hexdigest()[:24]


def payload(problem: Problem, expected: dict | None, reference: bool = False) -> dict:
    """The problem as the judge sees it (sent once per worker); `reference`: with the canonical
    solution, for the job that times it. Assert tests go as the plan of asserts.py."""
    t = problem.tests
    if t.kind == "io":  # recorded outputs, no reference: sandbox/container/judge_io.py
        return {"kind": "io", "func_name": t.func_name, "time_limit": t.time_limit, "io_tests": t.io_tests,
                "n_tests": {"base": len(t.io_tests), "plus": 0}}
    if t.kind == "asserts":
        plan = assert_plan(problem)
        return {"kind": "asserts", "setup": t.setup, "phases": plan.phases, "n_tests": plan.n_tests,
                **({"canonical": problem.canonical_solution} if reference else {})}
    return {"kind": "evalplus", "dataset": t.dataset, "entry_point": problem.entry_point,
            "atol": t.atol, "canonical": problem.canonical_solution,
            # list(): Mbpp/793's plus_input is an empty dict in MBPP+ v0.2.0
            "base_inputs": list(t.base_inputs), "plus_inputs": list(t.plus_inputs), "expected": expected}


def cache_dir() -> Path:
    root = os.environ.get("NFBENCH_CACHE_DIR") or Path.home() / ".cache" / "nfbench"
    return Path(root) / "expected"


def load_cached(key: str) -> dict | None:
    path = cache_dir() / f"{key}.pkl"
    try:
        return safe_loads(path.read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError, ValueError):
        return None


def store_expected(key: str, expected: dict) -> dict:
    path = cache_dir() / f"{key}.pkl"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_bytes(pickle.dumps(expected, protocol=4))
    tmp.replace(path)
    return expected

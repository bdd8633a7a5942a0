"""The records one run passes along: task -> method -> sandbox -> store -> report.

Everything here is plain data (no torch) so that the sandbox, the store and the report can use it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal


@dataclass
class TestSpec:
    """How the sandbox decides whether a solution is correct.

    kind="asserts":  `setup` code (imports, helpers, a `check` function, ...) then each string of
                     `asserts` is one test statement run after the solution (HumanEval, MBPP, synth).
    kind="evalplus": evalplus semantics: call `entry_point` on each of `base_inputs` / `plus_inputs`,
                     compare with the outputs of the task's canonical solution (computed once, cached),
                     with `atol` for floats and evalplus's special oracles for `dataset`.
    kind="io":       recorded input/output tests, no reference run (LiveCodeBench): `io_tests` are
                     {"input", "output", "testtype"} strings as the dataset stores them. Without
                     `func_name` the program reads each input on stdin and its stdout is compared
                     line by line; with it, `Solution().<func_name>(*args)` gets one JSON argument per
                     input line and its value is compared with the JSON output. `time_limit` seconds
                     per test; rules: sandbox/container/io_rules.py.
    """

    kind: Literal["asserts", "evalplus", "io"]
    setup: str = ""
    asserts: list[str] = field(default_factory=list)
    plus_asserts: list[str] = field(default_factory=list)
    base_inputs: list[Any] = field(default_factory=list)
    plus_inputs: list[Any] = field(default_factory=list)
    atol: float = 0.0
    dataset: str = ""  # "humaneval" | "mbpp" for evalplus; free text otherwise
    io_tests: list[dict[str, str]] = field(default_factory=list)  # kind="io"
    func_name: str = ""  # kind="io": the method of `Solution` that functional tests call
    time_limit: float = 0.0  # kind="io": seconds per test


@dataclass
class Problem:
    """One programming problem of a task."""

    task_id: str
    prompt: str  # as the dataset states it (a code stub or a natural-language description)
    entry_point: str  # the function the tests call
    canonical_solution: str  # a complete, self-contained reference program
    tests: TestSpec
    reasoning: str | None = None  # ground-truth chain of thought, where the task has one (synth)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Cost:
    """Cost of one sample, identical accounting for every method (see harness/cost.py)."""

    prompt_tokens: int = 0
    reasoning_positions: int = 0  # text tokens or latent steps between prompt and answer
    answer_tokens: int = 0
    forward_passes: int = 0  # sequential model calls (a batched call counts once per sample)
    flops: float = 0.0
    reasoning_seconds: float = 0.0
    answer_seconds: float = 0.0
    peak_memory_bytes: int = 0
    kv_cache_bytes: int = 0  # at the end of reasoning

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Generation:
    """One sample: one line of generations.jsonl."""

    task_id: str
    sample_idx: int
    prompt: str  # the exact text fed to the model
    raw_output: str  # everything the model produced (reasoning + answer as text)
    solution: str  # the extracted, self-contained program that the sandbox runs
    reasoning: str | None  # reasoning text, or a summary of the latent thoughts
    cost: Cost
    extra: dict[str, Any] = field(default_factory=dict)  # method-specific (log-likelihoods, N_eff, ...)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Generation:
        return cls(**{**d, "cost": Cost(**d.get("cost", {}))})


Status = Literal["pass", "fail", "timeout", "oom", "error", "crashed", "skipped"]


@dataclass
class Verdict:
    """One line of executions.jsonl (evalplus-compatible names where they exist)."""

    task_id: str
    sample_idx: int
    base_status: Status
    plus_status: Status | None  # None when the task has no plus tests
    base_fail_test: int | None = None  # index of the first failing base test
    plus_fail_test: int | None = None
    seconds: float = 0.0
    detail: str = ""  # short reason (exception type, signal, ...) for humans
    # an assert that could not be parsed ran in the sample's own process, so the sample's code could
    # have forged this verdict (every other verdict is decided by the judge: sandbox/README.md)
    self_checked: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

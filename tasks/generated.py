"""What the seeded synthetic suites (synth, graph) share: option checking, train/validation/test
generated together so that no prompt is in two splits, and the compact prompt/reasoning/answer
format that character-level tiny models are trained on.

A suite subclasses `GeneratedTask` with its `defaults`, `generator_version`, `instruction` and three
hooks: `generate(rng)` (one example: a dict with "prompt", "reasoning" and "solution", a one-line
program defining `f`), `asserts(ex)` (its tests) and `meta(ex)` (what else a Problem records).
"""
from __future__ import annotations

import hashlib
import json
import random
from typing import Any, ClassVar

from nfbench.harness.errors import UserError
from nfbench.harness.types import Problem, TestSpec
from nfbench.tasks.base import Task

SPLIT_SALT = {"train": 0, "validation": 1, "test": 2}
SIZE_OPTIONS = {"train": "n_train", "validation": "n_val", "test": "n_test"}


class GeneratedTask(Task):
    """A seeded synthetic suite with a ground-truth chain of thought for every problem."""

    generator_version: ClassVar[str]
    defaults: ClassVar[dict[str, Any]]  # every option and its default (n_train, n_val, n_test, seed, knobs)
    instruction: ClassVar[str]  # the notation explained, for prompts that are not the compact format
    too_few_fix: ClassVar[str] = "ask for fewer problems"  # when the knobs allow too few distinct prompts
    licence = "Apache-2.0 (generated)"
    has_plus = False
    default_split = "test"

    def __init__(self, data_dir=None, **options: Any):
        unknown = set(options) - set(self.defaults)
        if unknown:
            raise UserError(f"unknown {self.name} option(s): {', '.join(sorted(unknown))}",
                            f"{self.name} options are: {', '.join(self.defaults)}")
        super().__init__(data_dir, **{**self.defaults, **options})
        self._cache: dict[str, list[Problem]] = {}

    def generate(self, rng: random.Random) -> dict[str, Any]:
        """One example from the options' knobs; its "prompt" identifies it across splits."""
        raise NotImplementedError

    def asserts(self, ex: dict[str, Any]) -> list[str]:
        """The test statements that the example's solution passes and a wrong one fails."""
        raise NotImplementedError

    def meta(self, ex: dict[str, Any]) -> dict[str, Any]:
        return {}

    def make_problem(self, split: str, index: int, ex: dict[str, Any]) -> Problem:
        return Problem(task_id=f"{self.name}/{split}/{index}", prompt=ex["prompt"], entry_point="f",
                       canonical_solution=ex["solution"] + "\n",
                       tests=TestSpec(kind="asserts", asserts=self.asserts(ex)), reasoning=ex["reasoning"],
                       meta={"split": split, **self.meta(ex), "instruction": self.instruction})

    def splits(self) -> dict[str, int]:
        return {split: int(self.options[key]) for split, key in SIZE_OPTIONS.items()}

    def problems(self, split: str | None = None) -> list[Problem]:
        split = split or self.default_split
        if split not in SPLIT_SALT:
            raise UserError(f"{self.name} has no split '{split}'", f"choose one of: {', '.join(SPLIT_SALT)}")
        if not self._cache:
            self._build()
        return list(self._cache[split])

    def _build(self) -> None:
        """All splits at once so that no prompt appears in two splits (test, then val, then train)."""
        seen: set[str] = set()
        for split in ("test", "validation", "train"):
            rng = random.Random(f"{self.options['seed']}/{split}/{SPLIT_SALT[split]}")
            out: list[Problem] = []
            want, tries = self.splits()[split], 0
            while len(out) < want:
                tries += 1
                if tries > 50 * want + 1000:
                    knobs = ", ".join(f"{k}={v}" for k, v in self.options.items()
                                      if k not in (*SIZE_OPTIONS.values(), "seed"))
                    raise UserError(f"{self.name} cannot make {want} distinct {split} problems at {knobs}",
                                    self.too_few_fix)
                ex = self.generate(rng)
                if ex["prompt"] in seen:
                    continue
                seen.add(ex["prompt"])
                out.append(self.make_problem(split, len(out), ex))
            self._cache[split] = out

    # --- the compact format tiny models are trained on ---------------------------------------------
    def format_example(self, problem: Problem) -> tuple[str, str, str]:
        """(prompt, reasoning, answer) strings for SFT: prompt + reasoning + answer is the CoT
        sequence, prompt + answer the direct one. Each part ends with a newline."""
        return problem.prompt + "\n", (problem.reasoning or "") + "\n", problem.canonical_solution

    def parse_answer(self, problem: Problem, text: str) -> str:
        """The program in a generated answer: the first `def <entry point>(` line onwards, first line only."""
        start = text.find(f"def {problem.entry_point}(")
        if start < 0:
            return text.strip() + "\n"
        return text[start:].split("\n", 1)[0].strip() + "\n"

    def dataset_info(self) -> dict[str, Any]:
        blob = json.dumps({"generator": self.generator_version, **self.options}, sort_keys=True)
        return {"name": self.name, "version": self.generator_version, "options": dict(self.options),
                "sha256": hashlib.sha256(blob.encode()).hexdigest(), "path": None}

"""MBPP (original): 974 crowd-sourced Python problems with the standard task-id splits."""
from __future__ import annotations

import ast
from typing import Any

from nfbench.harness.errors import UserError
from nfbench.harness.registry import register_task
from nfbench.harness.types import Problem, TestSpec
from nfbench.tasks.base import Task
from nfbench.tasks.data import FILES, data_file, file_info, read_records

# Google's split of MBPP by task_id (google-research/mbpp README): inclusive ranges.
SPLITS = {"prompt": (1, 10), "test": (11, 510), "validation": (511, 600), "train": (601, 974)}


def split_of(task_number: int) -> str:
    return next(name for name, (lo, hi) in SPLITS.items() if lo <= task_number <= hi)


def mbpp_prompt(text: str, first_test: str) -> str:
    """The description and one example test in a docstring: the MBPP+ prompt format."""
    return f'"""\n{text.strip()}\n{first_test.strip()}\n"""\n'


def entry_point(code: str, tests: list[str]) -> str:
    """The function the asserts call: the first called name that the reference code defines."""
    defined = {n.name for n in ast.walk(ast.parse(code)) if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    called = [n.func.id for t in tests for n in ast.walk(ast.parse(t))
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    return next((c for c in called if c in defined), called[0] if called else "")


@register_task("mbpp")
class MbppTask(Task):
    """MBPP: 974 basic Python problems (splits prompt/test/validation/train), checked by their asserts."""

    source = "google-research MBPP (Austin et al. 2021); full file as on HF google-research-datasets/mbpp"
    licence = "CC-BY-4.0"
    has_plus = False
    default_split = "test"

    def __init__(self, data_dir=None, **options: Any):
        unknown = set(options) - {"sanitized"}
        if unknown:
            raise UserError(f"unknown mbpp option(s): {', '.join(sorted(unknown))}",
                            "mbpp takes only sanitized=true|false (the 427-problem hand-checked subset)")
        super().__init__(data_dir, sanitized=bool(options.get("sanitized", False)))
        self._file = "mbpp-sanitized" if self.options["sanitized"] else "mbpp"
        self._by_split: dict[str, list[Problem]] | None = None

    def _load(self) -> dict[str, list[Problem]]:
        if self._by_split is None:
            self._by_split = {name: [] for name in SPLITS}
            for r in read_records(data_file(self._file, self.data_dir)):
                p = self._problem(r)
                self._by_split[p.meta["split"]].append(p)
        return self._by_split

    def _problem(self, r: dict[str, Any]) -> Problem:
        text = r.get("text") or r["prompt"]  # full file: text; sanitized file: prompt
        setup = r.get("test_setup_code") or "\n".join(r.get("test_imports") or [])
        number = int(r["task_id"])
        return Problem(
            task_id=f"Mbpp/{number}",
            prompt=mbpp_prompt(text, r["test_list"][0]),
            entry_point=entry_point(r["code"], r["test_list"]),
            canonical_solution=r["code"].replace("\r\n", "\n"),
            tests=TestSpec(kind="asserts", setup=setup, asserts=list(r["test_list"])),
            meta={"split": split_of(number), "text": text, "challenge_tests": r.get("challenge_test_list") or []},
        )

    def splits(self) -> dict[str, int]:
        return {name: len(ps) for name, ps in self._load().items()}

    def problems(self, split: str | None = None) -> list[Problem]:
        return list(self._load()[self.resolve_split(split)])

    def dataset_info(self) -> dict[str, Any]:
        return file_info(self._file, FILES[self._file][1], data_file(self._file, self.data_dir))

"""What every task provides. Tasks never import torch."""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from nfbench.harness.errors import UserError
from nfbench.harness.types import Problem


class Task(ABC):
    """A benchmark: problems with tests, split into train/validation/test where it has splits."""

    name: ClassVar[str]  # set by @register_task
    source: ClassVar[str] = ""  # where the data comes from (for `nfbench ls tasks` and the manifest)
    licence: ClassVar[str] = ""
    has_plus: ClassVar[bool] = False  # whether verdicts have a plus (extra tests) part
    default_split: ClassVar[str] = "test"

    def __init__(self, data_dir: Path | None = None, **options: Any):
        self.data_dir = data_dir
        self.options = options

    @abstractmethod
    def splits(self) -> dict[str, int]:
        """Split name -> number of problems."""

    def local_splits(self) -> dict[str, int]:
        """splits() from what is already on disk, never downloading (what `nfbench ls tasks` shows);
        the same as splits() for tasks whose data is read whole."""
        return self.splits()

    @abstractmethod
    def problems(self, split: str | None = None) -> list[Problem]:
        """The problems of a split (default: `default_split`), in a stable order."""

    def resolve_split(self, split: str | None) -> str:
        """`split`, or the default split; a UserError naming the task's splits if it has no such split."""
        split = split or self.default_split
        if split not in self.splits():
            raise UserError(f"task '{self.name}' has no split '{split}'", f"its splits: {', '.join(self.splits())}")
        return split

    @abstractmethod
    def dataset_info(self) -> dict[str, Any]:
        """{"name", "version", "sha256", "path"} of the data actually read, for the run manifest."""

    # --- hooks a task may override (methods/prompt_format.py is their only caller) ----------------
    def format_example(self, problem: Problem) -> tuple[str, str, str] | None:
        """The task's compact text format, for models trained from scratch on it (no chat template, no
        instruction): (prompt, reasoning, answer) strings, each ending with a newline, so that prompt +
        reasoning + answer is the CoT sequence and prompt + answer the direct one. None (the default):
        the task has none, and such models read `problem.prompt` and write `canonical_solution`."""
        return None

    def parse_answer(self, problem: Problem, text: str) -> str:
        """The program in an answer a model wrote in the compact format, before the sanitizer
        (tasks/prompting.py) makes it self-contained. Default: the answer as written."""
        return text

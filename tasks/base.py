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

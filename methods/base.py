"""What every reasoning method provides.

A method is a config dataclass (`config_class`: its training and decoding hyperparameters) plus the
behaviour that uses it: `generate` (batched, KV-cached) and `train` (through the shared trainer).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from nfbench.harness.errors import UserError
from nfbench.harness.types import Generation, Problem


class Method(ABC):
    name: ClassVar[str]  # set by @register_method
    config_class: ClassVar[type]  # dataclass of this method's options (YAML key `method_config`)
    trainable: ClassVar[bool] = True

    def __init__(self, run_config: Any, method_config: Any, task: Any = None):
        self.run_config = run_config  # RunConfig or TrainConfig (harness/config.py)
        self.config = method_config
        self.task = task  # the Task instance (tasks/base.py), for task-specific prompt formats

    def manifest_info(self) -> dict[str, Any]:
        """Model id, weights' sha256, checkpoint path, parameter count: written to the run manifest."""
        return {}

    @abstractmethod
    def generate(self, problems: list[Problem], n: int, seed: int) -> list[Generation]:
        """n samples per problem; sample_idx 0..n-1; deterministic for a given seed."""

    def train(self, train_config: Any) -> Path:
        """Train and return the checkpoint directory."""
        raise UserError(f"method '{self.name}' is training-free", "use `nfbench run` directly")

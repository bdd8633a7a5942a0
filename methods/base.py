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


class BackboneMethod(Method):
    """A method on a causal-LM backbone (every method here): loads the model lazily, once.

    Which weights: `run_config.checkpoint` if given; else, for `nfbench run`, the latest complete
    checkpoint of this method for `run_config.backbone` (harness/checkpoints.py); else the backbone
    itself when `zero_shot_ok(backbone)` (e.g. an instruct model), else a UserError naming the
    `nfbench train` command. Training (TrainConfig) starts from `init_from` or the backbone.
    """

    def __init__(self, run_config: Any, method_config: Any, task: Any = None):
        super().__init__(run_config, method_config, task)
        self._backbone: Any = None
        self.checkpoint: Path | None = None

    @property
    def training(self) -> bool:
        return hasattr(self.run_config, "trainer")

    def zero_shot_ok(self, backbone: str) -> bool:
        """Whether `run` may use the untrained backbone (default: not for from-scratch configs)."""
        return backbone != "tiny-llama" and not getattr(self, "requires_training", False)

    def weights_spec(self) -> str:
        from nfbench.harness.checkpoints import latest_checkpoint, require_checkpoint

        cfg = self.run_config
        if self.training:
            return cfg.init_from or cfg.backbone
        if cfg.checkpoint:
            self.checkpoint = require_checkpoint(self.name, cfg.backbone, cfg.checkpoint)
        elif not getattr(self.config, "zero_shot", False):
            self.checkpoint = latest_checkpoint(self.name, cfg.backbone)
            if self.checkpoint is None and not self.zero_shot_ok(cfg.backbone):
                self.checkpoint = require_checkpoint(self.name, cfg.backbone)  # raises, naming the command
        return str(self.checkpoint) if self.checkpoint else cfg.backbone

    @property
    def backbone(self) -> Any:
        """harness.backbone.Backbone (model, tokenizer, device), loaded on first use."""
        if self._backbone is None:
            from nfbench.harness.backbone import load_backbone

            cfg = self.run_config
            # training keeps fp32 master weights (the trainer autocasts to bf16 on GPU)
            dtype = "float32" if self.training and cfg.dtype == "auto" else cfg.dtype
            self._backbone = load_backbone(self.weights_spec(), device=cfg.device, dtype=dtype, seed=cfg.seed)
        return self._backbone

    def manifest_info(self) -> dict[str, Any]:
        return {**self.backbone.manifest_info(), "checkpoint": str(self.checkpoint) if self.checkpoint else None}

    def sampling(self) -> Any:
        from nfbench.harness.generation import Sampling

        return Sampling(temperature=self.run_config.temperature, top_p=self.run_config.top_p)

    def meter(self, batch_size: int, phase: str = "reasoning") -> Any:
        """A CostMeter for one batch (harness/cost.py)."""
        from nfbench.harness.cost import CostMeter

        bb = self.backbone
        return CostMeter(bb.model.config, batch_size, bb.device, bb.dtype, phase=phase)

    @staticmethod
    def sample_batches(problems: list[Problem], n: int, batch_size: int) -> list[list[tuple[Problem, int]]]:
        """(problem, sample_idx) jobs, n per problem, cut into generation batches."""
        jobs = [(p, s) for p in problems for s in range(n)]
        size = max(1, batch_size)
        return [jobs[i:i + size] for i in range(0, len(jobs), size)]

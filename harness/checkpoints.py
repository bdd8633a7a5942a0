"""Where trained checkpoints live, and the one place that decides which weights a method uses.

Layout (written by harness/stages.py): `results/checkpoints/<method>/<name>/` holding the weights +
tokenizer of its last finished stage (loadable by `load_backbone(dir)`), one subfolder per stage with
its metrics, resumable state and done marker, and `checkpoint.json`: method, backbone, the training
config, hashes of the training data, each stage's record, and `complete: true` once every stage has
finished (only complete checkpoints are picked up).

Which weights: `resolve_start` for training (`init_from`, else the latest checkpoint of the method's
`starts_from` of the same backbone and task, else the backbone), `resolve_run` for `nfbench run`
(`--checkpoint`, else the latest checkpoint of the method, or of its `starts_from` for a training-free
method, of the run's backbone and training task, else the backbone where the method runs zero-shot).
A checkpoint of another backbone or task than the one it is used for is refused, naming the
`nfbench train` command that makes the right one.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any, Iterable

from nfbench.harness.errors import UserError
from nfbench.harness.manifest import git_info, hardware, package_versions

INFO = "checkpoint.json"
log = logging.getLogger("nfbench")


def results_dir() -> Path:
    from nfbench.harness.store import results_root

    return results_root()


def checkpoint_dir(method: str, name: str, out: str | None = None) -> Path:
    return Path(out) if out else results_dir() / "checkpoints" / method / name


def data_sha256(records: Iterable[Any]) -> str:
    """Order-sensitive hash of the training examples (any JSON-serialisable records)."""
    h = hashlib.sha256()
    for r in records:
        h.update(json.dumps(r, sort_keys=True, default=str).encode())
        h.update(b"\n")
    return h.hexdigest()


def write_info(ckpt: Path, *, method: str, backbone: str, train_config: dict[str, Any],
               data: dict[str, Any], complete: bool, **extra: Any) -> None:
    ckpt.mkdir(parents=True, exist_ok=True)
    info = {"method": method, "backbone": backbone, "complete": complete, "created": time.time(),
            "train_config": train_config, "data": data, "git": git_info(), "packages": package_versions(),
            "hardware": hardware(), **extra}
    tmp = ckpt / (INFO + ".tmp")
    tmp.write_text(json.dumps(info, indent=2, default=str))
    tmp.replace(ckpt / INFO)


def read_info(ckpt: str | Path) -> dict[str, Any] | None:
    f = Path(ckpt) / INFO
    if not f.is_file():
        return None
    try:
        info = json.loads(f.read_text())
    except ValueError:
        info = None
    if not isinstance(info, dict):
        raise UserError(f"{f} is corrupt", f"delete {f.parent} and train it again (`nfbench train`)")
    return info


def is_data_file(data: str | None) -> bool:
    return bool(data) and data.endswith((".jsonl", ".jsonl.gz"))


def trained_task(info: dict[str, Any]) -> str | None:
    """The task a checkpoint was trained for (older checkpoints: the task their `data` named)."""
    tc = info.get("train_config") or {}
    data = tc.get("data")
    return tc.get("task") or (None if is_data_file(data) or not data else data)


def describe(path: Path, info: dict[str, Any]) -> str:
    """One line saying what a checkpoint is: method, backbone, task, data, when."""
    data = info.get("data") or {}
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.get("created", 0)))
    return (f"{path} ({info.get('method')} on {info.get('backbone')}, trained for {trained_task(info)} on "
            f"{data.get('source')}: {data.get('n')} examples, sha256 {str(data.get('sha256'))[:8]}, {when})")


def train_command(method: str, task: str | None, backbone: str, data: str | None = None) -> str:
    """The `nfbench train` command that makes the checkpoint a run or a training is missing."""
    from nfbench.harness.config import DEFAULT_BACKBONE

    from nfbench.harness.train_data import default_cot_set

    parts = [f"nfbench train {method}"] + ([f"--task {task}"] if task else [])
    parts += [f"--backbone {backbone}"] if backbone != DEFAULT_BACKBONE else []
    default = task is not None and data == str(default_cot_set(task))  # what --data defaults to
    return " ".join(parts + ([f"--data {data}"] if is_data_file(data) and not default else []))


def checkpoints(method: str) -> list[tuple[float, Path, dict[str, Any]]]:
    """Every complete checkpoint of `method`, newest first."""
    found = []
    for f in (results_dir() / "checkpoints" / method).glob(f"*/{INFO}"):
        info = read_info(f.parent) or {}  # never None here: the file exists
        if info.get("complete"):
            found.append((info.get("created", 0.0), f.parent, info))
    return sorted(found, key=lambda t: t[0], reverse=True)


def latest_checkpoint(method: str, backbone: str, task: str | None = None, data: str | None = None) -> Path | None:
    """The most recently finished checkpoint of `method` trained from `backbone` (for `task`, if
    given; among those, one trained on the SFT set `data` wins)."""
    fits = [(path, info) for _, path, info in checkpoints(method)
            if info.get("backbone") == backbone and (task is None or trained_task(info) == task)]
    same_data = [f for f in fits if data is not None and (f[1].get("train_config") or {}).get("data") == data]
    return (same_data or fits or [(None, None)])[0][0]


def check_fits(path: Path, method: str, backbone: str, task: str | None, fix: str) -> None:
    """A checkpoint given by path must be of the backbone (and task) it is used for."""
    info = read_info(path)
    if not info:
        return  # a plain model directory: nothing recorded to check
    got_task = trained_task(info)
    if info.get("backbone") != backbone or (task and got_task and got_task != task):
        raise UserError(f"checkpoint {path} is a {info.get('method')} model of {info.get('backbone')} trained for "
                        f"{got_task}, not of {backbone} for {task}", fix)


def resolve_start(method: Any, cfg: Any) -> str:
    """The weights a training starts from (a checkpoint dir or the backbone spec)."""
    if cfg.init_from == "backbone":
        return cfg.backbone
    owner = method.starts_from or method.name
    fix = f"train one: {train_command(owner, cfg.task, cfg.backbone, cfg.data)} (or pass --init-from backbone)"
    if cfg.init_from:
        path = require_checkpoint(owner, cfg.backbone, cfg.init_from)
        check_fits(path, owner, cfg.backbone, cfg.task, fix)
        return str(path)
    if method.starts_from is None:
        return cfg.backbone
    found = latest_checkpoint(method.starts_from, cfg.backbone, cfg.task, cfg.data)
    if found is None:
        raise UserError(f"{method.name} starts from a {method.starts_from} model of {cfg.backbone} trained for "
                        f"{cfg.task}, and there is none yet", f"train it first: "
                        f"{train_command(method.starts_from, cfg.task, cfg.backbone, cfg.data)}, or add --with-cot "
                        "to this command (--init-from DIR|backbone starts elsewhere)")
    log.info("%s starts from %s", method.name, describe(found, read_info(found) or {}))
    return str(found)


def resolve_run(method: Any, cfg: Any) -> tuple[str, Path | None]:
    """(what to load, the trained checkpoint or None) for `nfbench run`: the checkpoint given, else the
    latest of the method (a training-free one: of its `starts_from`) for the backbone and the run task's
    training task, else the backbone itself where the method can run zero-shot on it, else a UserError
    naming the `nfbench train` command."""
    from nfbench.harness.backbone import is_pretrained
    from nfbench.harness.train_data import training_task

    owner = method.name if method.stages() else method.starts_from
    task = training_task(cfg.task)
    command = train_command(owner or method.name, task, cfg.backbone)
    if cfg.checkpoint:
        path = require_checkpoint(owner or method.name, cfg.backbone, cfg.checkpoint)
        check_fits(path, owner or method.name, cfg.backbone, task, f"train one: {command}, or pass the --backbone "
                   f"and --task it was trained for")
    elif owner is None:
        return cfg.backbone, None
    else:
        path = latest_checkpoint(owner, cfg.backbone, task)
        if path is None:
            if method.zero_shot and is_pretrained(cfg.backbone):
                log.info("%s: no trained %s model of %s for %s; running zero-shot on the backbone (%s)",
                         method.name, owner, cfg.backbone, task, command)
                return cfg.backbone, None
            others = [f"{i.get('backbone')}/{trained_task(i)}" for _, _, i in checkpoints(owner)]
            elsewhere = f" (there are some for {', '.join(sorted(set(others)))})" if others else ""
            raise UserError(f"no trained '{owner}' checkpoint of {cfg.backbone} for {task}{elsewhere}",
                            f"train one: {command} (or pass --checkpoint DIR)")
    log.info("%s uses %s", method.name, describe(path, read_info(path) or {}))
    return str(path), path


def require_checkpoint(method: str, backbone: str, given: str | None = None) -> Path:
    """The checkpoint a run uses: the one given, else the latest for (method, backbone)."""
    if given:
        path = Path(given)
        if not (path / "config.json").is_file():
            raise UserError(f"checkpoint {path} has no model weights",
                            f"pass a directory made by `nfbench train {method}`")
        return path
    found = latest_checkpoint(method, backbone)
    if found is None:
        raise UserError(f"no trained '{method}' checkpoint for backbone '{backbone}' under {results_dir()}/checkpoints",
                        f"train one: {train_command(method, None, backbone)} (or pass --checkpoint DIR)")
    return found

"""Where trained checkpoints live, and the one place that decides which weights a method uses.

Layout (written by harness/stages.py): `results/checkpoints/<method>/<name>/` holding the weights +
tokenizer of its last finished stage (loadable by `load_backbone(dir)`), one subfolder per stage with
its metrics, resumable state and done marker, and `checkpoint.json`: method, backbone, the training
config, hashes of the training data, each stage's record, and `complete: true` once every stage has
finished (only complete checkpoints are picked up).

Which weights: `resolve_start` for training (`init_from`, else the latest checkpoint of the method's
`starts_from`, else the backbone), `resolve_run` for `nfbench run` (`--checkpoint`, else the latest
checkpoint of the method, or of its `starts_from` for a training-free method, else the backbone where
the method runs zero-shot).
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Iterable

from nfbench.harness.errors import UserError
from nfbench.harness.manifest import git_info, hardware, package_versions

INFO = "checkpoint.json"


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


def latest_checkpoint(method: str, backbone: str) -> Path | None:
    """The most recently finished checkpoint of `method` trained from `backbone`."""
    root = results_dir() / "checkpoints" / method
    found = []
    for f in root.glob(f"*/{INFO}"):
        info = read_info(f.parent) or {}  # never None here: the file exists
        if info.get("complete") and info.get("backbone") == backbone:
            found.append((info.get("created", 0.0), f.parent))
    return max(found)[1] if found else None


def resolve_start(method: Any, cfg: Any) -> str:
    """The weights a training starts from (a checkpoint dir or the backbone spec)."""
    if cfg.init_from == "backbone":
        return cfg.backbone
    if cfg.init_from:
        return str(require_checkpoint(method.starts_from or method.name, cfg.backbone, cfg.init_from))
    if method.starts_from is None:
        return cfg.backbone
    found = latest_checkpoint(method.starts_from, cfg.backbone)
    if found is None:
        raise UserError(f"{method.name} starts from a {method.starts_from} checkpoint, and there is none for "
                        f"backbone '{cfg.backbone}'", f"train one first: nfbench train {method.starts_from} --backbone "
                        f"{cfg.backbone} (or pass --init-from DIR, or --init-from backbone for the raw backbone)")
    return str(found)


def resolve_run(method: Any, cfg: Any) -> tuple[str, Path | None]:
    """(what to load, the trained checkpoint or None) for `nfbench run`: the checkpoint given, else the
    latest of the method (a training-free one: of its `starts_from`) for the backbone, else the backbone
    itself where the method can run zero-shot on it, else a UserError naming the `nfbench train` command."""
    from nfbench.harness.backbone import is_pretrained

    owner = method.name if method.stages() else method.starts_from
    if cfg.checkpoint:
        path = require_checkpoint(owner or method.name, cfg.backbone, cfg.checkpoint)
    elif owner is None:
        return cfg.backbone, None
    else:
        path = latest_checkpoint(owner, cfg.backbone)
        if path is None:
            if method.zero_shot and is_pretrained(cfg.backbone):
                return cfg.backbone, None
            path = require_checkpoint(owner, cfg.backbone)  # raises, naming the command
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
                        f"train one: nfbench train {method} --backbone {backbone} (or pass --checkpoint DIR)")
    return found

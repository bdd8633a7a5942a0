"""Where trained checkpoints live and how `nfbench run` finds them.

Layout: `results/checkpoints/<method>/<name>/` holding the final weights + tokenizer (loadable by
`load_backbone(dir)`), per-stage subfolders with metrics and resumable state, and
`checkpoint.json`: method, backbone, the training config, hashes of the training data, and
`complete: true` once every stage has finished (only complete checkpoints are picked up).
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

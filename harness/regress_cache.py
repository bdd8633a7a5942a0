"""The checkpoint cache of `nfbench regress`: a member is retrained only when what decides its weights
has changed.

An entry is a complete checkpoint folder `<member>-<key>/` (a member's name is its method's unless the
suite names it). The key hashes the member's resolved training config (the checkpoint it starts from
named by its own entry, not its path), the versions of the packages whose numerics are part of a
checkpoint, and the contents of the member's training sources: the nfbench files the suite lists for
it (ci/suite.yaml), like a build's declared inputs.
Editing NF-CoT retrains NF-CoT alone; editing the trainer retrains every member; editing the CLI, the
report or the sandbox retrains nothing.

Two roots are searched: the local cache (results/regress/checkpoints/) and the suite's committed one
(ci/cache/). The committed one holds the CoT-SFT model the latent methods start from (the longest
training, whose retrains are not bitwise reproducible across CPUs), so a fresh clone does not re-derive
it while its key holds. `nfbench regress --update` refreshes it.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any, Callable

from nfbench.harness.checkpoints import INFO, read_info
from nfbench.harness.errors import UserError
from nfbench.harness.stages import DONE

PACKAGES = ("torch", "transformers", "accelerate", "peft")  # their numerics are part of a checkpoint
Trainer = Callable[[Path, dict[str, Any], Path], None]  # (config file, overrides, out)


def package_dir(part: str) -> Path:
    """Where an nfbench subpackage's files are (harness, methods, tasks, sandbox), installed or not."""
    spec = importlib.util.find_spec(f"nfbench.{part}")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"nfbench has no subpackage '{part}'", "name sources as harness/..., methods/... or tasks/...")
    return Path(list(spec.submodule_search_locations)[0])


def source_files(sources: list[str]) -> dict[str, Path]:
    """Package-relative names (a file, or a folder meaning every .py file in it) -> files."""
    files: dict[str, Path] = {}
    for name in sources:
        part, _, rest = name.partition("/")
        path = package_dir(part) / rest
        if path.is_dir():
            files.update({f"{name.rstrip('/')}/{f.relative_to(path)}": f for f in sorted(path.rglob("*.py"))})
        elif path.is_file():
            files[name] = path
        else:
            raise UserError(f"regress suite: training source '{name}' does not exist",
                            "fix the member's `sources` in the suite file (package-relative paths)")
    return files


def source_digests(sources: list[str]) -> dict[str, str]:
    return {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in sorted(source_files(sources).items())}


def entry_key(cfg: dict[str, Any], sources: list[str]) -> str:
    ident = {**cfg, "out": None, "init_from": Path(cfg["init_from"]).name if cfg.get("init_from") else None}
    blob = json.dumps([ident, [version(p) for p in PACKAGES], source_digests(sources)], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def entries(root: Path, member: str) -> list[Path]:
    """The folders `<member>-<key>` of a member (a key has no dash: `cot-*` is not member cot-graph's)."""
    return sorted(p for p in root.glob(f"{member}-*") if "-" not in p.name[len(member) + 1:])


def is_complete(entry: Path) -> bool:
    info = read_info(entry) if (entry / INFO).is_file() else None
    return bool(info and info.get("complete"))


def lookup(member: str, key: str, roots: list[Path]) -> Path | None:
    for root in roots:
        if is_complete(entry := root / f"{member}-{key}"):
            return entry
    return None


def newest(member: str, roots: list[Path]) -> Path | None:
    """The most recently finished entry of a member, whatever made it (--reuse-checkpoints)."""
    done = sorted((e for root in roots for e in entries(root, member) if is_complete(e)),
                  key=lambda p: (p / INFO).stat().st_mtime)
    return done[-1] if done else None


def train(config: Path, overrides: dict[str, Any], out: Path, trainer: Trainer | None = None) -> Path:
    """Train into `out` (removed first: a half-trained leftover)."""
    shutil.rmtree(out, ignore_errors=True)
    (trainer or train_in_child)(config, overrides, out)
    if not is_complete(out):
        raise RuntimeError(f"training into {out} did not finish a complete checkpoint")
    return out


def train_in_child(config: Path, overrides: dict[str, Any], out: Path) -> None:
    """`nfbench train` in a fresh process, exactly as a user would run it (its log goes to ours)."""
    sets = [f"{k}={json.dumps(v)}" for k, v in {**overrides, "out": str(out)}.items() if k != "method"]
    cmd = [sys.executable, "-m", "nfbench.harness.cli", "train", overrides["method"], "--config", str(config)]
    proc = subprocess.run(cmd + [a for s in sets for a in ("--set", s)], stdout=sys.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"training {overrides['method']} failed (exit {proc.returncode}); its log is above")


def commit(member: str, checkpoint: Path, committed: Path) -> Path | None:
    """Copy a checkpoint into the committed cache, replacing the member's older entries: what `nfbench
    run` loads (the root) and each stage's record, not the stages' own weights or optimizer state.
    None when it already is the committed entry."""
    target = committed / checkpoint.name
    if checkpoint.resolve() == target.resolve():
        return None
    for old in entries(committed, member):
        shutil.rmtree(old)
    target.mkdir(parents=True)
    for f in checkpoint.iterdir():
        if f.is_file():
            shutil.copy2(f, target / f.name)
        elif (f / DONE).is_file():
            (target / f.name).mkdir()
            for kept in (DONE, "metrics.csv"):
                if (f / kept).is_file():
                    shutil.copy2(f / kept, target / f.name / kept)
    return target

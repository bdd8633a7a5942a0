"""The checkpoint cache of `nfbench regress`: a member is retrained only when its config or the code
its training ran has changed.

An entry is a checkpoint folder `<method>-<key>/` holding `regress-done.json`. The key hashes the
resolved training config (the checkpoint it starts from by its own entry name, not its path) and the
torch, transformers, accelerate and peft versions. The entry also records the sha256 of every nfbench source file its
training imported (harness/, methods/, tasks/; not the sandbox, reporting or the run manifest, which
cannot change what a model learns) and is valid only while all of them are unchanged, like a build system's dependency
file: editing NF-CoT does not retrain CoT, editing the trainer retrains everything. Training runs in a
child process so that what it imported is exactly what it depends on.

Two roots are searched: the local cache (results/regress/checkpoints/) and the committed one
(benchmarks/regress_cache/). The committed one holds the CoT-SFT model that every latent method starts
from (the longest training of the suite), so a fresh CI clone does not spend ~5 minutes re-deriving
it while the code it came from is unchanged. `nfbench regress --update` refreshes it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
COMMITTED = REPO / "benchmarks" / "regress_cache"
COMMITTED_MEMBERS = ("cot",)  # what `--update` stores in the repository (~4 MB)
CODE_DIRS = ("harness", "methods", "tasks")
NOT_CODE = ("report", "regress.py", "regress_cache.py", "cli.py", "cli_data.py", "listing.py", "manifest.py")
DONE = "regress-done.json"
PACKAGES = ("torch", "transformers", "accelerate", "peft")  # their numerics are part of a checkpoint
Trainer = Callable[[Path, dict[str, Any], Path], dict[str, str]]  # (config, overrides, out) -> sources


def is_code(rel: Path) -> bool:
    """Whether a source file (relative to the repository) can change what a model learns."""
    return rel.parts[0] in CODE_DIRS and not any(part in NOT_CODE for part in rel.parts)


def source_digests(files: list[Path]) -> dict[str, str]:
    """sha256 of each nfbench source file among `files`, by path relative to the repository."""
    found = {}
    for path in files:
        path = path.resolve()
        if not path.is_file() or path.suffix != ".py":
            continue
        try:
            rel = path.relative_to(REPO)
        except ValueError:
            continue
        if is_code(rel):
            found[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return dict(sorted(found.items()))


def entry_key(cfg: dict[str, Any]) -> str:
    ident = {**cfg, "out": None, "init_from": Path(cfg["init_from"]).name if cfg.get("init_from") else None}
    blob = json.dumps([ident, [version(p) for p in PACKAGES]], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def is_fresh(entry: Path) -> bool:
    """Trained by this config (the key) and by source files that have not changed since (files that
    NOT_CODE has since excluded are not compared)."""
    done = entry / DONE
    if not done.is_file():
        return False
    sources = {rel: digest for rel, digest in json.loads(done.read_text()).get("sources", {}).items()
               if is_code(Path(rel))}
    return bool(sources) and source_digests([REPO / rel for rel in sources]) == sources


def lookup(method: str, key: str, roots: list[Path]) -> Path | None:
    for root in roots:
        if is_fresh(entry := root / f"{method}-{key}"):
            return entry
    return None


def train(config: Path, overrides: dict[str, Any], out: Path, trainer: Trainer | None = None) -> Path:
    """Train into `out` (removed first: a half-trained leftover) and record the entry."""
    shutil.rmtree(out, ignore_errors=True)
    sources = (trainer or train_in_child)(config, overrides, out)
    if not sources:
        raise RuntimeError(f"training into {out} recorded no source files: the cache could not check it")
    (out / DONE).write_text(json.dumps({"config_file": str(config), "overrides": overrides,
                                        "sources": sources}, indent=1))
    return out


def train_in_child(config: Path, overrides: dict[str, Any], out: Path) -> dict[str, str]:
    """`pipeline.train` in a child process (same interpreter and import path); returns the source
    files it imported. Its log goes to this process's stdout/stderr."""
    spec = json.dumps({"config": str(config), "overrides": {**overrides, "out": str(out)},
                       "level": logging.getLogger().getEffectiveLevel()})
    proc = subprocess.run([sys.executable, "-m", "nfbench.harness.regress_cache", spec], stdout=subprocess.PIPE)
    if proc.returncode != 0:
        raise RuntimeError(f"training {overrides.get('method')} failed (exit {proc.returncode}); its log is above")
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


def commit(method: str, checkpoint: Path) -> Path | None:
    """Copy a fresh checkpoint into the committed cache (without optimizer state), replacing the
    method's older entries. None when it already is the committed entry."""
    target = COMMITTED / checkpoint.name
    if checkpoint.resolve() == target.resolve():
        return None
    for old in COMMITTED.glob(f"{method}-*"):
        shutil.rmtree(old)
    shutil.copytree(checkpoint, target, ignore=shutil.ignore_patterns("state", "*.pt.tmp"))
    return target


def _child(spec: str) -> None:
    from nfbench.harness import pipeline
    from nfbench.harness.cli import configure_logging
    from nfbench.harness.config import TrainConfig, load_config

    args = json.loads(spec)
    configure_logging(args["level"])
    cfg = load_config(TrainConfig, args["config"], args["overrides"])
    real_stdout, sys.stdout = sys.stdout, sys.stderr  # the parent reads only the final line
    pipeline.train(cfg)
    files = [Path(m.__file__) for m in list(sys.modules.values()) if getattr(m, "__file__", None)]
    real_stdout.write(json.dumps(source_digests(files)) + "\n")


if __name__ == "__main__":
    _child(sys.argv[1])

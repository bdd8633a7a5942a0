"""Where task data files come from: an explicit directory, $NFBENCH_DATA_DIR, a download cache.

Layout (the same in every data directory):
    evalplus/HumanEvalPlus.jsonl.gz   HumanEval+ v0.1.10 (evalplus release file)
    evalplus/MbppPlus.jsonl.gz        MBPP+ v0.2.0 (evalplus release file)
    mbpp/mbpp.jsonl                   MBPP full, 974 problems
    mbpp/sanitized-mbpp.json          MBPP sanitized, 427 problems
Nothing downloads at import time; a download is tried only when a file is asked for and is missing.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import urllib.request
from pathlib import Path
from typing import Any

from nfbench.harness import jsonl
from nfbench.harness.errors import UserError

ENV = "NFBENCH_DATA_DIR"
CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nfbench" / "data"
EVALPLUS_URL = "https://github.com/evalplus/{repo}_release/releases/download/{version}/{name}.jsonl.gz"
FILES = {
    "humaneval+": ("evalplus/HumanEvalPlus.jsonl.gz", "v0.1.10"),
    "mbpp+": ("evalplus/MbppPlus.jsonl.gz", "v0.2.0"),
    "mbpp": ("mbpp/mbpp.jsonl", "full"),
    "mbpp-sanitized": ("mbpp/sanitized-mbpp.json", "sanitized"),
}


def data_dir(explicit: Path | str | None = None) -> Path | None:
    """The directory the user chose (argument, then $NFBENCH_DATA_DIR), or None."""
    chosen = explicit or os.environ.get(ENV)
    return Path(chosen).expanduser() if chosen else None


def data_file(key: str, explicit: Path | str | None = None) -> Path:
    """Path of dataset file `key` (see FILES): chosen directory, else the cache, else download."""
    rel, version = FILES[key]
    chosen = data_dir(explicit)
    if chosen is not None:
        path = chosen / rel
        if path.is_file():
            return path
        raise _missing(rel, f"not found in data directory {chosen}")
    cached = CACHE_DIR / rel
    if cached.is_file():
        return cached
    try:
        _download(key, version, cached)
    except Exception as e:  # no network, hub down, missing optional package, ...
        cached.unlink(missing_ok=True)
        raise _missing(rel, f"download failed ({type(e).__name__})") from None
    return cached


def _missing(rel: str, why: str) -> UserError:
    return UserError(f"dataset file {rel} is missing: {why}",
                     f"put it at <DIR>/{rel} (layout: evalplus/HumanEvalPlus.jsonl.gz, evalplus/MbppPlus.jsonl.gz, "
                     f"mbpp/mbpp.jsonl, mbpp/sanitized-mbpp.json) and set {ENV}=<DIR> or pass --data-dir")


def _reachable(host: str) -> None:
    """Fail in seconds, not after the HF client's minute of retries, when there is no network."""
    socket.create_connection((host, 443), timeout=5).close()


def _download(key: str, version: str, dest: Path) -> None:
    _reachable("github.com" if key in ("humaneval+", "mbpp+") else "huggingface.co")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    if key in ("humaneval+", "mbpp+"):
        name = "HumanEvalPlus" if key == "humaneval+" else "MbppPlus"
        url = EVALPLUS_URL.format(repo=name.lower(), version=version, name=name)
        with urllib.request.urlopen(url, timeout=30) as r, tmp.open("wb") as f:
            f.write(r.read())
    else:  # MBPP from the HF hub; the rows are written back in Google's file formats
        from datasets import concatenate_datasets, load_dataset

        ds = load_dataset("google-research-datasets/mbpp", version)
        rows = sorted(concatenate_datasets(list(ds.values())).to_list(), key=lambda r: r["task_id"])
        text = "".join(json.dumps(r) + "\n" for r in rows) if key == "mbpp" else json.dumps(rows)
        tmp.write_text(text)
    tmp.replace(dest)


def read_records(path: Path) -> list[dict[str, Any]]:
    """Rows of a .jsonl, .jsonl.gz or .json (list) file."""
    fix = "delete it so that it is fetched again, or restore it from its source (see shared/data/SOURCES.md)"
    if not path.name.endswith(".json"):
        return jsonl.read_input(path, fix=fix)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UserError(f"data file {path} is corrupt or truncated ({type(e).__name__})", fix) from None


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_info(name: str, version: str, path: Path) -> dict[str, Any]:
    """The run-manifest record of a data file."""
    return {"name": name, "version": version, "sha256": sha256(path), "path": str(path)}

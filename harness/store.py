"""The run store: one directory per run, append-only JSONL records, atomic JSON files.

results/runs/<run_id>/
  manifest.json      resolved config, code/package/data/model/sandbox versions, hardware, seeds
  generations.jsonl  one Generation per (task_id, sample_idx)
  executions.jsonl   one Verdict per (task_id, sample_idx)
  summary.json       pass@k and cost aggregates (harness/metrics.py)
  samples.jsonl      the generations as an evalplus samples file ({"task_id", "solution"})

Records are appended and flushed one at a time (harness/jsonl.py), so a crash loses at most the line
being written; reading drops a torn last line (with a warning) so that it is redone.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any, Iterable

from nfbench.harness import jsonl
from nfbench.harness.errors import UserError

log = logging.getLogger("nfbench")

MANIFEST, GENERATIONS, EXECUTIONS, SUMMARY, SAMPLES = (
    "manifest.json", "generations.jsonl", "executions.jsonl", "summary.json", "samples.jsonl")


def results_root() -> Path:
    return Path(os.environ.get("NFBENCH_RESULTS", "results"))


def is_run_dir(path: Path) -> bool:
    """True if every entry of `path` is a file a run store writes (an empty directory counts)."""
    names = {MANIFEST, GENERATIONS, EXECUTIONS, SUMMARY, SAMPLES}
    return all(p.name in names or p.name.removesuffix(".tmp") in names for p in path.iterdir())


class RunStore:
    def __init__(self, path: Path):
        self.path = Path(path)

    @classmethod
    def create(cls, path: Path, *, force: bool = False) -> RunStore:
        """Open (or create) a run directory; with force, move an existing one aside first.

        A directory holding anything a run store does not write is refused either way, so that
        `--out results --force` cannot move a whole results tree aside.
        """
        path = Path(path)
        if path.exists() and (not path.is_dir() or not is_run_dir(path)):
            raise UserError(f"{path} exists and is not a run directory",
                            "choose a new or empty --out directory")
        if force and path.exists() and any(path.iterdir()):
            aside = path.with_name(f"{path.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
            shutil.move(str(path), aside)
            log.warning("moved the previous run aside to %s", aside)
        path.mkdir(parents=True, exist_ok=True)
        return cls(path)

    def file(self, name: str) -> Path:
        return self.path / name

    def exists(self, name: str) -> bool:
        return self.file(name).exists()

    # --- JSON (whole-file, atomic) ------------------------------------------------------------
    def write_json(self, name: str, obj: Any) -> None:
        tmp = self.file(name + ".tmp")
        try:
            tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")
        except OSError as e:
            tmp.unlink(missing_ok=True)  # the old file stays as it was
            raise jsonl.disk_error(self.file(name), e) from None
        os.replace(tmp, self.file(name))

    def read_json(self, name: str) -> Any:
        p = self.file(name)
        try:
            return json.loads(p.read_text())
        except FileNotFoundError:
            raise UserError(f"{p} not found", "is this a run directory? see `nfbench ls runs`") from None
        except ValueError:
            raise UserError(f"{p} is not valid JSON", "restore it or re-run with --force") from None

    # --- JSONL (append-only) --------------------------------------------------------------------
    def records(self, name: str, *, repair: bool = True) -> list[dict[str, Any]]:
        """repair=False to read while another process may be appending (a torn line is not cut)."""
        return jsonl.read(self.file(name), repair=repair)

    def done(self, name: str, *, repair: bool = True) -> set[tuple[str, int]]:
        return {(r["task_id"], r["sample_idx"]) for r in self.records(name, repair=repair)}

    def append(self, name: str, records: Iterable[dict[str, Any]]) -> int:
        return jsonl.append(self.file(name), records)

    def order_like(self, name: str, reference: str) -> None:
        """Rewrite `name` (atomically) in the order of `reference`'s (task_id, sample_idx): verdicts
        are appended as they finish, on whichever engine, and merged into input order at the end."""
        rank = {(r["task_id"], r["sample_idx"]): i for i, r in enumerate(self.records(reference))}
        recs = self.records(name)
        ordered = sorted(recs, key=lambda r: rank.get((r["task_id"], r["sample_idx"]), len(rank)))
        if ordered != recs:
            jsonl.write(self.file(name), ordered)

    def write_samples(self) -> Path:
        """Export generations as an evalplus samples file."""
        gens = sorted(self.records(GENERATIONS), key=lambda g: (g["task_id"], g["sample_idx"]))
        jsonl.write(self.file(SAMPLES), ({"task_id": g["task_id"], "solution": g["solution"]} for g in gens))
        return self.file(SAMPLES)

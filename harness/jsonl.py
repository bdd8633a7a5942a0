"""JSON Lines: every file of records nfbench reads or writes goes through here.

Two kinds of file, read two ways:
  store files   what nfbench appends to (a run's generations and verdicts). Every record is written
                with its newline in one write, so a last line without a newline (or one that does not
                parse) is a write torn by a crash: `read` drops it with a warning and, with
                repair=True, cuts it from the file so that appends continue cleanly.
  input files   what a user hands over (samples, SFT sets, task data; `.gz` read transparently):
                `read_input` accepts nothing it cannot parse, and names the file and line.
A bad line anywhere else than the end of a store file is corruption, and an error in both modes.
"""
from __future__ import annotations

import errno
import gzip
import json
import logging
import os
from pathlib import Path
from typing import Any, Iterable

from nfbench.harness.errors import UserError

log = logging.getLogger("nfbench")


def read(path: Path, *, repair: bool = False) -> list[dict[str, Any]]:
    """The records of a store file (see the module doc for torn last lines); [] if it does not exist."""
    path = Path(path)
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")  # the part after the last newline is lines[-1] (empty if none torn)
    records, offset = [], 0
    for i, line in enumerate(lines):
        is_last = i == len(lines) - 1 or (i == len(lines) - 2 and not lines[-1])
        try:
            rec = json.loads(line) if line.strip() else None
            ok = rec is None or isinstance(rec, dict)
        except ValueError:
            ok = False
        if not ok or (i == len(lines) - 1 and line.strip()):
            if not is_last:
                raise UserError(f"{path} is malformed at line {i + 1}",
                                "fix or remove that line, or start over with --force")
            log.warning("%s: dropping a torn last line (%d bytes); it will be redone", path, len(line))
            if repair:
                with open(path, "r+b") as f:
                    f.truncate(offset)
            break
        if rec is not None:
            records.append(rec)
        offset += len(line) + 1
    return records


def read_input(path: Path, fix: str = "fix or remove that line") -> list[dict[str, Any]]:
    """Every record of a user's file (`.jsonl` or `.jsonl.gz`): each non-blank line one JSON object (a
    last line without newline is fine: input is not written by our appends). `fix` ends the error line."""
    path = Path(path)
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rt", encoding="utf-8") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text", "write the file as UTF-8 JSON lines") from None
    except FileNotFoundError:
        raise UserError(f"file not found: {path}", "pass an existing JSON lines file") from None
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise UserError(f"{path} is corrupt or truncated ({type(e).__name__})", fix) from None
    records = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError as e:
            raise UserError(f"{path}:{i}: not valid JSON ({e.msg})", fix) from None
        if not isinstance(rec, dict):
            raise UserError(f"{path}:{i}: a line must be a JSON object", "write one {...} per line")
        records.append(rec)
    return records


def append(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Append records, each with its newline in one write (a crash tears at most the last). A write
    the disk has no room for is cut back off, so the file ends at its last whole record, and ends
    the run with one line (UserError) naming the file: re-running resumes from there."""
    n = 0
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        for rec in records:
            data = (json.dumps(rec, default=str) + "\n").encode()
            end = os.fstat(fd).st_size
            try:
                while data:  # a short write (a full disk, a signal) leaves a part to write
                    data = data[os.write(fd, data):]
            except OSError as e:
                os.ftruncate(fd, end)
                raise disk_error(path, e) from None
            n += 1
    finally:
        os.close(fd)
    return n


def disk_error(path: Path, e: OSError) -> Exception:
    """A full disk (or quota) as one line; any other OSError as it is."""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return UserError(f"no space left on the disk holding {path} (nothing torn was kept)",
                         "free some space (or pass --out on another disk) and re-run the same command: "
                         "it resumes from the records already written")
    return e


def write(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Replace the file with these records atomically (a reader sees the old file or the new one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            for rec in records:
                f.write(json.dumps(rec, default=str) + "\n")
                n += 1
    except OSError as e:
        tmp.unlink(missing_ok=True)  # the old file stays as it was
        raise disk_error(path, e) from None
    os.replace(tmp, path)
    return n

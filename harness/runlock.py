"""One writer per run directory: two `nfbench run`/`eval` appending to the same store would
interleave records and both die on each other's lines.

The lock is an flock on a file next to the run directory (`.<name>.lock`, so that `--force`, which
moves the directory aside, moves nothing the lock depends on), held until the process exits (the
kernel drops it even after a SIGKILL, so a stale file never blocks anyone). The holder writes its
pid and command line into it, so a refused second writer can say who holds the directory.
Ranks > 0 of a sharded run write into rank 0's store on purpose and do not take the lock.
"""
from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path

from nfbench.harness.errors import UserError

_held: dict[str, int] = {}  # resolved run dir -> the fd holding its lock (this process)


def lock_file(run_dir: Path) -> Path:
    return run_dir.parent / f".{run_dir.name}.lock"


def hold(run_dir: Path) -> None:
    """Hold `run_dir`'s lock for the rest of this process (again: a no-op); raises UserError
    (exit 2) naming the holder if another process holds it."""
    run_dir = Path(run_dir).resolve()
    if str(run_dir) in _held:
        return
    path = lock_file(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 4096, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise UserError(f"{run_dir} is in use by {holder}",
                        "wait for that run to finish (or stop it), or pass another --out") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"process {os.getpid()} ({' '.join(sys.argv)[:300]})\n".encode(), 0)
    _held[str(run_dir)] = fd

"""The zygote: a fresh interpreter that forks one candidate process per check.

The judge starts it with fork+exec (so it begins with an empty memory, not the judge's expected
outputs) and then sends it, over a SOCK_SEQPACKET control socket, one socket per check (SCM_RIGHTS):
the zygote forks, the child closes the control socket and becomes the candidate (candidate.py) on
that socket, and the zygote answers with the child's pid. It holds no problem data at all: inputs
reach a candidate one at a time, from the judge. Forking this small process (~10 MB, the modules
solutions usually import already loaded and frozen out of the GC) is what a check costs to start.

A candidate runs with the zygote's uid, so it could signal the zygote: the zygote blocks the
signals it can block, is non-dumpable (no ptrace, no /proc/<pid>/mem), and the judge starts a new
one if it dies or stops answering.

Standard library + the shipped evalplus utils only: this file runs in the image.
"""
from __future__ import annotations

import ctypes
import gc
import importlib.util
import os
import signal
import socket
import struct
import sys
from pathlib import Path

import candidate

PID = struct.Struct("<i")
STATUS = struct.Struct("<ii")  # pid, wait status (-1: unknown)
# Imported once here rather than by every candidate: what solutions (and evalplus's guard) import
PRELOAD = ("typing", "math", "re", "collections", "itertools", "functools", "heapq", "bisect", "string",
           "copy", "operator", "random", "contextlib", "io", "tempfile", "shutil", "subprocess",
           "faulthandler", "platform", "resource", "hashlib", "decimal", "fractions", "statistics",
           "datetime", "dataclasses", "json")  # json: LiveCodeBench functional tests (candidate_io)
# numpy and multiprocessing cannot be imported once reliability_guard has run (they call functions
# it disables), and evalplus's checking processes have both imported already. A zygote with them
# loaded makes every check ~1 ms slower (a child's exit unmaps numpy's pages), so a second zygote
# ("heavy", started when first needed) serves the programs whose text names them.
HEAVY = ("numpy", "multiprocessing")


def _evalplus_utils():
    """evalplus's eval/utils.py (reliability_guard, create_tempdir) without its package __init__,
    which imports numpy and psutil: the candidate's interpreter stays small."""
    spec = importlib.util.find_spec("evalplus")
    path = Path(spec.submodule_search_locations[0]) / "eval" / "utils.py"
    mod_spec = importlib.util.spec_from_file_location("evalplus_eval_utils", path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    return mod


def _max_memory() -> int | None:
    """evalplus's query_maximum_memory_bytes: min(EVALPLUS_MAX_MEMORY_BYTES or 4 GiB, total RAM)."""
    limit = min(int(os.environ.get("EVALPLUS_MAX_MEMORY_BYTES", 4 << 30)),
                os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    return None if limit == -1 else limit


def main() -> None:
    ctl = socket.socket(fileno=int(sys.argv[1]))
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0; inherited by every candidate
    try:  # when the container runs out of memory, the kernel kills a candidate, not the judge
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass
    # Blocked, not ignored: a candidate's signals stay pending here, and a forked child starts
    # with no pending signal and unblocks them (one call, where resetting handlers takes a dozen)
    signal.pthread_sigmask(signal.SIG_BLOCK, set(signal.Signals) - {signal.SIGCHLD})
    for name in PRELOAD + (HEAVY if sys.argv[2:] == ["heavy"] else ()):
        __import__(name)
    utils, max_memory = _evalplus_utils(), _max_memory()
    import tempfile

    # What every candidate would do first, done once here and inherited: evalplus's
    # reliability_guard (so a child writes none of the module dicts it patches, each write a
    # copy-on-write fault), and stdio swallowed. The zygote keeps what it needs of what the guard
    # disables; it makes each candidate's temp dir and enters it before forking.
    fork, chdir, mkdtemp = os.fork, os.chdir, tempfile.mkdtemp
    tempfile.gettempdir()
    utils.reliability_guard(maximum_memory_bytes=max_memory)
    sys.stdin = sys.stdout = sys.stderr = candidate.Swallowed()
    statuses: dict[int, int] = {}
    gc.collect()
    gc.freeze()  # candidates' GC passes skip (so do not copy) the inherited heap
    ctl.send(b"ready")
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(ctl, 64, 1)
        except (OSError, ValueError):
            return
        if not msg:
            return  # the judge closed the socket
        _reap(statuses)  # the last candidate: the judge waited for it to die before asking again
        if msg == b"F" and fds:
            try:
                chdir(mkdtemp())  # evalplus's create_tempdir; the judge empties /tmp after the check
            except OSError:
                pass
            pid = fork()
            if pid == 0:
                ctl.close()
                candidate.main(fds[0])
            os.close(fds[0])
            ctl.send(PID.pack(pid))
        elif msg[:1] == b"W" and len(msg) == 1 + PID.size:
            pid = PID.unpack(msg[1:])[0]
            if pid not in statuses:
                try:
                    statuses[pid] = os.waitpid(pid, 0)[1]
                except ChildProcessError:
                    statuses[pid] = -1
            ctl.send(STATUS.pack(pid, statuses.pop(pid)))
        else:
            for fd in fds:
                os.close(fd)


def _reap(statuses: dict[int, int]) -> None:
    """Collect finished candidates (kept a while for the judge to ask how they ended)."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if not pid:
            return
        statuses[pid] = status
        if len(statuses) > 64:
            statuses.pop(next(iter(statuses)))


if __name__ == "__main__":
    main()

"""Forked children of the sandbox worker: one per check (and per reference timing), so that
whatever the code does (crash, hang, leak, change the interpreter) ends with its process.

Standard library only: this file runs in the image, next to worker.py.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import select
import signal
import time

CTX = mp.get_context("fork")  # for lock-free shared-memory values only (RawValue, RawArray)
PROTO_FDS: list[int] = []  # closed first thing in every child: untrusted code must not talk to the host


class Child:
    """A forked child running target(*args): a bare os.fork, ~2 ms cheaper per job than
    multiprocessing.Process (no bootstrap, finalizers, thread join or sentinel pipe at exit).
    Exit code as multiprocessing reports it: 0, 1 after an exception, -N after signal N."""

    def __init__(self, target, args: tuple):
        self.exitcode: int | None = None
        self.pid = os.fork()
        if self.pid == 0:
            code = 1
            try:
                target(*args)
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else int(e.code is not None)
            except BaseException:
                pass
            finally:
                os._exit(code)
        try:  # a pidfd becomes readable when the child exits (not when its fds close: a detached
            self._fd = os.pidfd_open(self.pid)  # grandchild keeping them open must not delay us)
        except (AttributeError, OSError):
            self._fd = None

    def _reap(self, flags: int) -> bool:
        if self.exitcode is None:
            pid, status = os.waitpid(self.pid, flags)
            if pid:
                self.exitcode = os.waitstatus_to_exitcode(status)
                if self._fd is not None:
                    os.close(self._fd)
        return self.exitcode is not None

    def join(self, timeout: float) -> bool:
        """Wait at most `timeout` seconds; True if the child has exited."""
        if self._fd is not None and self.exitcode is None:
            select.select([self._fd], [], [], max(timeout, 0))
            return self._reap(os.WNOHANG)
        end, nap = time.monotonic() + timeout, 0.0005
        while not self._reap(os.WNOHANG) and time.monotonic() < end:
            time.sleep(nap)
            nap = min(nap * 2, 0.02)
        return self.exitcode is not None

    def kill(self) -> None:
        if self.exitcode is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._reap(0)


def child_prologue() -> None:
    for fd in PROTO_FDS:
        try:
            os.close(fd)
        except OSError:
            pass

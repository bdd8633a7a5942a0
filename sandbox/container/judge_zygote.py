"""The judge's handle on the zygotes (zygote.py): starting them (fork+exec, never a fork of the
judge's memory), asking them for a candidate, restarting them when a candidate killed or stopped one.

Standard library only: this file runs in the image.
"""
from __future__ import annotations

import os
import select
import signal
import socket
import struct
import subprocess
import sys
from pathlib import Path

ZYGOTE_PY = Path(__file__).with_name("zygote.py")
PID = struct.Struct("<i")
STATUS = struct.Struct("<ii")
CONTROL_TIMEOUT = 10.0  # a zygote that does not answer in this long is replaced


class Zygote:
    """The fork server candidates are started from (zygote.py), restarted when it dies or hangs.
    `heavy`: with numpy and multiprocessing loaded (zygote.HEAVY)."""

    def __init__(self, heavy: bool = False) -> None:
        self.heavy = heavy
        self.proc: subprocess.Popen | None = None
        self.ctl: socket.socket | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self) -> None:
        self.stop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # fork+exec: the zygote starts from an empty interpreter, never from the judge's memory
        argv = [sys.executable, str(ZYGOTE_PY), str(theirs.fileno())] + (["heavy"] if self.heavy else [])
        self.proc = subprocess.Popen(argv,
                                     pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        theirs.close()
        self.ctl = ours
        if self._ask(None, 16) != b"ready":
            self.stop()
            raise RuntimeError("the candidate zygote did not start")

    def stop(self) -> None:
        if self.ctl is not None:
            self.ctl.close()
            self.ctl = None
        if self.proc is not None:
            try:
                self.proc.kill()
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                pass
            self.proc = None

    def _ask(self, msg: bytes | None, size: int, fds: list[int] = ()) -> bytes | None:
        try:
            if msg is not None:
                socket.send_fds(self.ctl, [msg], list(fds)) if fds else self.ctl.send(msg)
            ready, _, _ = select.select([self.ctl], [], [], CONTROL_TIMEOUT)
            return self.ctl.recv(size) if ready else None
        except OSError:
            return None

    def spawn(self, fd: int) -> int:
        """Fork a candidate on socket `fd`; returns its pid (a dead or stuck zygote is replaced once)."""
        for attempt in range(2):
            if self.proc is None or self.proc.poll() is not None:
                self.start()
            reply = self._ask(b"F", 16, [fd])
            if reply is not None and len(reply) == PID.size:
                return PID.unpack(reply)[0]
            if attempt == 0:
                self.start()
        raise RuntimeError("the candidate zygote does not answer")

    def wait_status(self, pid: int) -> int | None:
        """How a candidate ended (a waitpid status), None if unknown."""
        reply = self._ask(b"W" + PID.pack(pid), 16) if self.proc and self.proc.poll() is None else None
        if reply is None or len(reply) != STATUS.size:
            return None
        got, status = STATUS.unpack(reply)
        return status if got == pid and status >= 0 else None

    def resume(self) -> None:
        """A candidate may have stopped us with SIGSTOP (the one signal we cannot block)."""
        if self.proc is not None:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass


class Zygotes:
    """The two zygotes, each started when first needed; `for_code` picks the one a program needs."""

    HEAVY_NAMES = ("numpy", "multiprocessing")

    def __init__(self) -> None:
        self.plain, self.heavy = Zygote(), Zygote(heavy=True)

    def for_code(self, code: str) -> Zygote:
        return self.heavy if any(name in code for name in self.HEAVY_NAMES) else self.plain

    @property
    def pids(self) -> set[int]:
        return {z.pid for z in (self.plain, self.heavy) if z.pid is not None}

    def resume(self) -> None:
        self.plain.resume()
        self.heavy.resume()

    def stop(self) -> None:
        self.plain.stop()
        self.heavy.stop()

"""The judge's side of one candidate process: start it through a zygote, talk to it under
deadlines, kill it; and the tally of a phase as evalplus keeps it.

Everything a candidate says is read here as bounded frames (wire.py) from a socket of its own; the
judge never waits on it without a deadline and never believes it about time: each output's arrival
is measured here, and at a limit the candidate's process group is killed (the sweep after the check
kills anything that left the group). A candidate's death is seen through a pidfd, so a grandchild
holding the socket open cannot make the judge wait.

Standard library only: this file runs in the image.
"""
from __future__ import annotations

import os
import pickle
import select
import signal
import socket
import time

import wire
from judge_zygote import Zygotes


def oom_kills() -> int:
    """The container's OOM-kill counter (cgroup v1 or v2); -1 where it cannot be read."""
    for path, key in (("/sys/fs/cgroup/memory/memory.oom_control", "oom_kill"),
                      ("/sys/fs/cgroup/memory.events", "oom_kill")):
        try:
            with open(path) as f:
                for line in f:
                    name, _, value = line.partition(" ")
                    if name == key:
                        return int(value)
        except OSError:
            continue
    return -1


class Timeout(Exception):
    pass


class Dead(Exception):
    """The candidate ended (or closed its socket) before answering."""


class TooBig(Exception):
    pass


BUFFER_MAX = 64 << 20  # a frame bigger than this is compared as it arrives, never held whole
SAME, DIFFERENT = object(), object()  # what recv gives for such a frame instead of its payload


class Candidate:
    """One candidate process running one sample's program on one phase."""

    def __init__(self, zygotes: Zygotes, job: dict, deadline: float):
        self.zygote = zygote = zygotes.for_code(job["code"])
        ours, theirs = socket.socketpair()
        try:
            self.pid = zygote.spawn(theirs.fileno())
        finally:
            theirs.close()
        self.sock = ours
        self.sock.setblocking(False)
        self.poll = select.poll()
        self.poll.register(self.sock, select.POLLIN)
        try:
            self.pidfd = os.pidfd_open(self.pid)
            self.poll.register(self.pidfd, select.POLLIN)
        except (ProcessLookupError, OSError):
            self.pidfd = None  # already gone (or no pidfds): the socket's EOF tells us
        self.buf = bytearray()
        self.chunk = bytearray(1 << 16)
        self.dead = False
        self.ooms = oom_kills()
        self.send(wire.JOB, pickle.dumps(job, protocol=5), deadline)

    # --- sending -----------------------------------------------------------------------------
    def send(self, kind: bytes, payload: bytes, deadline: float) -> None:
        self.send_frame(wire.frame(kind, payload), deadline)

    def send_frame(self, data: bytes, deadline: float) -> None:
        try:
            n = self.sock.send(data)  # almost always all of it: the candidate is waiting to read
        except BlockingIOError:
            n = 0
        except OSError:
            raise Dead() from None
        if n < len(data):
            self._send_rest(memoryview(data)[n:], deadline)

    def _send_rest(self, data: memoryview, deadline: float) -> None:
        while data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout()
            _, writable, _ = select.select([], [self.sock], [], left)
            if not writable:
                continue
            try:
                data = data[self.sock.send(data):]
            except BlockingIOError:
                pass
            except OSError:
                raise Dead() from None

    # --- receiving ---------------------------------------------------------------------------
    def recv(self, deadline: float, max_len: int, against: bytes | None = None) -> tuple[bytes, object]:
        """The next frame; raises Timeout past `deadline`, Dead if the candidate ended without
        sending it, TooBig if it announces more than `max_len` bytes. A frame over BUFFER_MAX is
        compared with `against` while it arrives: its payload is then SAME or DIFFERENT."""
        while True:
            if len(self.buf) >= 5 and wire.FRAME.unpack_from(self.buf)[1] > len(self.chunk):
                kind, n = wire.FRAME.unpack_from(self.buf)
                if n > max_len:
                    raise TooBig(n)
                return kind, self._stream(n, against, deadline) if n > BUFFER_MAX else self._collect(n, deadline)
            got = self._frame(max_len)
            if got is not None:
                return got
            if self.dead:
                raise Dead()
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout()
            events = self.poll.poll(left * 1000 + 1)
            if not events:
                continue
            if any(fd == self.pidfd for fd, _ in events) and not any(fd != self.pidfd for fd, _ in events):
                self._read(drain=True)  # the process ended: what it sent before is still in the socket
                self.dead = True
            else:
                self._read()

    def _frame(self, max_len: int) -> tuple[bytes, bytes] | None:
        buf = self.buf
        if len(buf) < 5:
            return None
        kind, n = wire.FRAME.unpack_from(buf)
        if n > max_len:
            raise TooBig(n)
        if len(buf) < 5 + n:
            return None
        payload = bytes(buf[5:5 + n])
        del buf[:5 + n]
        return kind, payload

    def _wait_readable(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout()
        self.poll.poll(left * 1000 + 1)

    def _collect(self, n: int, deadline: float) -> bytes:
        """A frame's payload of n bytes (between one chunk and BUFFER_MAX), read in place."""
        payload = bytearray(n)
        got = min(n, len(self.buf) - 5)
        payload[:got] = self.buf[5:5 + got]
        del self.buf[:5 + got]
        view = memoryview(payload)
        while got < n:
            try:
                k = self.sock.recv_into(view[got:])
            except BlockingIOError:
                self._wait_readable(deadline)
                continue
            except OSError:
                k = 0
            if not k:
                self.dead = True
                raise Dead()
            got += k
        return bytes(payload)

    def _stream(self, n: int, against: bytes | None, deadline: float) -> object:
        """Consume a big frame's payload, comparing it with `against` chunk by chunk."""
        same = against is not None and len(against) == n
        del self.buf[:5]
        at = 0
        chunk = bytearray(1 << 20)
        while at < n:
            if self.buf:
                piece = bytes(self.buf[:n - at])
                del self.buf[:len(piece)]
            else:
                try:
                    k = self.sock.recv_into(chunk, min(len(chunk), n - at))
                except BlockingIOError:
                    self._wait_readable(deadline)
                    continue
                except OSError:
                    k = 0
                if not k:
                    self.dead = True
                    raise Dead()
                piece = bytes(chunk[:k])
            same = same and against[at:at + len(piece)] == piece
            at += len(piece)
        return SAME if same else DIFFERENT

    def _read(self, drain: bool = False) -> None:
        chunk = self.chunk
        while True:
            try:
                n = self.sock.recv_into(chunk)
            except BlockingIOError:
                return
            except OSError:
                self.dead = True
                return
            if not n:
                self.dead = True
                return
            self.buf += memoryview(chunk)[:n]
            if not drain and n < len(chunk):
                return

    # --- ending ------------------------------------------------------------------------------
    def kill(self) -> None:
        for target in (lambda: os.killpg(self.pid, signal.SIGKILL), lambda: os.kill(self.pid, signal.SIGKILL)):
            try:
                target()
            except (ProcessLookupError, PermissionError):
                pass

    def death(self) -> tuple[str, str]:
        """(status, detail) of a candidate that ended before answering: the kernel's OOM killer
        (the container's counter moved) or how the process ended ('signal N', 'exit code N')."""
        if self.ooms >= 0 and oom_kills() > self.ooms:
            return "oom", "killed by the out-of-memory killer"
        status = self.zygote.wait_status(self.pid)
        how = "unknown status"
        if status is not None:
            code = os.waitstatus_to_exitcode(status)
            how = f"signal {-code}" if code < 0 else f"exit code {code}"
        return "error", f"the process ended before reporting ({how})"

    def close(self) -> None:
        """Kill the process and wait (briefly) until it is gone, so the sweep finds nothing."""
        self.kill()
        self.sock.close()
        if self.pidfd is not None:
            select.select([self.pidfd], [], [], 1.0)
            os.close(self.pidfd)


class Tally:
    """How one phase went, kept as evalplus's `unsafe_execute` keeps it (per-test `details`, a
    `progress` count, a final status), so that statuses and first failing tests come out as
    evalplus's would, quirks included (HumanEval/32's oracle `continue`s before counting)."""

    def __init__(self, n_tests: int):
        self.n = n_tests
        self.details = [False] * n_tests
        self.progress = 0
        self.success = False
        self.self_checked = False  # an assert was checked in the sample's own process

    def passed(self, i: int) -> None:
        self.details[i] = True
        self.progress += 1

    def failed(self, i: int) -> None:
        self.details[i] = False
        self.progress += 1

    def result(self, status: str | None, detail: str, seconds: float) -> dict:
        """`status`: None when the candidate answered everything, else how it stopped
        (fail, timeout, error, oom); failing tests and the status follow evalplus."""
        det = self.details[:self.progress]
        first_bad = next((i for i, ok in enumerate(det) if not ok), None)
        out = {"status": "pass", "fail_test": None, "detail": "", "seconds": round(seconds, 5)}
        if self.self_checked:
            out["self_checked"] = True
        if status is None and self.success and len(det) == self.n and all(det):
            return out
        out["fail_test"] = first_bad if first_bad is not None else min(self.progress, max(self.n - 1, 0))
        if status is None:
            status, detail = "fail", detail or f"only {self.progress} of {self.n} tests counted (evalplus's oracle)"
        out.update(status=status, detail=detail)
        return out

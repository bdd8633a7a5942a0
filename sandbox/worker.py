"""Sandbox worker: runs inside a container (as PID 1) or, for `Sandbox("local")`, as a host subprocess.

It reads jobs from the host (4-byte length + pickle on stdin: the host is trusted) and answers one
JSON line per job on stdout (the host never unpickles what a worker says, except ground-truth
outputs, and those through a restricted unpickler). Each check runs in its own forked child
(worker_checks.py). After every job all other processes are killed and the scratch directories emptied.

Standard library + numpy + psutil + the shipped evalplus files only: this file runs in the image.
"""
from __future__ import annotations

import ctypes
import json
import os
import pickle
import shutil
import signal
import struct
import sys
import time

from worker_checks import CHECKS, reference_times
from worker_child import PROTO_FDS
from worker_truth import frozen_after, ground_truth

IN_CONTAINER = os.getpid() == 1
SCRATCH = ["/tmp", "/dev/shm"] if IN_CONTAINER else [os.environ.get("TMPDIR", "")]


def _descendants() -> list[int]:
    parent: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    parent[int(name)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, frontier = [], [os.getpid()]
    while frontier:
        kids = [pid for pid, pp in parent.items() if pp in frontier]
        found += kids
        frontier = kids
    return found


def sweep() -> None:
    """Kill every process but this one (detached children included) and empty the scratch dirs."""
    for _ in range(100):
        if IN_CONTAINER:
            try:
                os.kill(-1, signal.SIGKILL)  # as PID 1: everything else in the container
            except ProcessLookupError:
                pass
        else:
            for pid in _descendants():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        if not (_others() if IN_CONTAINER else _descendants()):
            break
        time.sleep(0.01)
    for root in SCRATCH:
        if root and os.path.isdir(root):
            for name in os.listdir(root):
                _remove(os.path.join(root, name))


def _others() -> list[int]:
    me = os.getpid()
    return [int(n) for n in os.listdir("/proc") if n.isdigit() and int(n) != me]


def _remove(path: str) -> None:
    def unlock(func, p, _exc):  # a test may have removed write permission first
        os.chmod(os.path.dirname(p) or p, 0o700)
        os.chmod(p, 0o700) if os.path.isdir(p) else None
        func(p)

    try:
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, 0o700)
            shutil.rmtree(path, onerror=unlock)
        else:
            os.unlink(path)
    except OSError:
        pass


def _rss_mb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") >> 20


def _read_exact(stream, n: int) -> bytes | None:
    buf = bytearray(n)  # preallocated: payloads reach hundreds of MB
    view, got = memoryview(buf), 0
    while got < n:
        k = stream.readinto(view[got:])
        if not k:
            return None
        got += k
    return bytes(buf) if n < (1 << 20) else buf




def payload_key(msg: dict) -> str:
    return ("gt:" if msg["op"] == "gt" else "") + msg["key"]  # a check's payload has the expected outputs


def handle(msg: dict, problems: dict) -> dict:
    """One job: the ground truth of, or one solution's check on, tests lo..hi-1 of one phase."""
    for old in msg.get("evict", ()):
        problems.pop(old, None)  # reference counting frees it at once (payloads are acyclic data)
    key = payload_key(msg)
    t0 = time.perf_counter()
    if "problem" in msg:
        with frozen_after():
            problems[key] = pickle.loads(msg["problem"])  # pickled once on the host
    load_s = time.perf_counter() - t0
    prob = problems[key]
    if msg["op"] == "gt" and prob["kind"] == "asserts":
        reply = reference_times(prob, msg["opts"])
    elif msg["op"] == "gt":
        reply = ground_truth(prob, msg["phase"], msg["lo"], msg["hi"], msg["opts"])
    else:
        reply = CHECKS[prob["kind"]](prob, msg["code"], msg["phase"], msg["lo"], msg["hi"], msg["opts"])
    reply["load_s"] = round(load_s, 5)
    return reply


def send(out, reply: dict) -> None:
    """One JSON line; ground-truth bytes follow it raw, their length given in the line."""
    raw = reply.pop("gt_bytes", None)
    if raw is not None:
        reply["gt_bytes"] = len(raw)
    out.write(json.dumps(reply).encode() + b"\n")
    if raw is not None:
        out.write(raw)
    out.flush()


# Measured in the container: a fork costs ~0.06 ms more per MB the worker holds; a restart ~0.2 s
FORK_MS_PER_MB = 0.06
RESTART_MS = 200.0


class Memory:
    """Tells when this worker should start afresh. A worker that grew with a big problem stays big
    after freeing it (its heap is fragmented, so the memory is not returned), and every later check
    pays for that in its fork. Growth during a job is put down to that job's problem; what is left
    once its payload is evicted is waste. A restart pays off when the waste would cost more in the
    checks still to come (`forks_left`, the host's estimate) than the restart itself."""

    def __init__(self) -> None:
        self.base = _rss_mb()
        self.held: dict[str, int] = {}  # MB put down to each payload still held

    def account(self, msg: dict, before: int, now: int) -> bool:
        """Record one finished job (RSS `before` it and `now`); True if the worker should restart."""
        for old in msg.get("evict", ()):
            self.held.pop(old, None)
        key = payload_key(msg)
        self.held[key] = self.held.get(key, 0) + max(0, now - before)
        waste, opts = now - self.base - sum(self.held.values()), msg["opts"]
        return waste > opts["restart_mb"] or waste * FORK_MS_PER_MB * opts.get("forks_left", 0) > RESTART_MS


def restart(proto_in, proto_out) -> None:
    """Become a fresh worker: same PID (PID 1 in a container), same protocol pipes, no payloads."""
    os.dup2(proto_in.fileno(), 0)
    os.dup2(proto_out.fileno(), 1)
    os.execv(sys.executable, [sys.executable, os.path.abspath(__file__), "--resumed"])


def main() -> None:
    proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
    proto_out = os.fdopen(os.dup(1), "wb")
    PROTO_FDS.extend([proto_in.fileno(), proto_out.fileno()])
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):  # children inherit /dev/null, never the protocol stream
        os.dup2(null, fd)
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # as PID 1 a default disposition means "ignored"
    libc = ctypes.CDLL(None)
    libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: children cannot ptrace or read our memory
    if not IN_CONTAINER:
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans come back to us to be killed
    problems: dict = {}
    memory = Memory()
    if "--resumed" not in sys.argv[1:]:  # a restart continues the conversation
        send(proto_out, {"ready": True, "python": sys.version.split()[0]})
    while True:
        head = _read_exact(proto_in, 4)
        if head is None:
            break  # the host went away: exit, and the container with us
        body = _read_exact(proto_in, struct.unpack(">I", head)[0])
        if body is None:
            break
        t0, before = time.perf_counter(), _rss_mb()
        msg = pickle.loads(body)
        try:
            reply = handle(msg, problems)
        except Exception as e:  # a bug here must not take the worker down
            reply = {"error": f"worker: {type(e).__name__}: {e}"[:500]}
        t1 = time.perf_counter()
        sweep()
        reply["id"] = msg["id"]
        reply["worker_s"] = [round(t1 - t0, 5), round(time.perf_counter() - t1, 5)]  # job, sweep (for tracing)
        reply["rss_mb"] = _rss_mb()
        reply["restarted"] = memory.account(msg, before, reply["rss_mb"])  # the host then resends payloads
        send(proto_out, reply)
        if reply["restarted"]:
            restart(proto_in, proto_out)


if __name__ == "__main__":
    main()

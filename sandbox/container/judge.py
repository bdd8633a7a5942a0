"""The judge: PID 1 of a sandbox container (or, for `Sandbox("local")`, a host subprocess).

It reads jobs from the host (4-byte length + pickle on stdin: the host is trusted) and answers JSON
lines on stdout. It holds the problems' inputs and expected outputs, computes ground truth with the
canonical solutions, compares, applies limits and decides every status. It never runs a sample:
samples run in candidate processes forked by the zygote (zygote.py, candidate.py), a fresh
interpreter the judge started before it held anything, and reach the judge only through a socket
of bounded plain-data frames (wire.py). What keeps a candidate out of the judge's memory:

- the judge is non-dumpable, so a candidate (same uid, no capabilities) cannot ptrace it or open
  its /proc/<pid>/mem, fds or environment; no memory is shared, nothing is read from /tmp;
- as PID 1 of the container's namespace it cannot be killed or stopped from inside (the kernel
  drops signals for which init has no handler, and the judge installs none);
- after every phase of every sample, every process but the judge and the zygote is killed, and
  /tmp and /dev/shm are emptied, so nothing a sample started meets the next one.

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

import judge_asserts
import judge_evalplus
import judge_io
from judge_truth import frozen_after, ground_truth
from judge_zygote import Zygotes

IN_CONTAINER = os.getpid() == 1
SCRATCH = ["/tmp", "/dev/shm"] if IN_CONTAINER else [os.environ.get("TMPDIR", "")]
CHECKS = {"evalplus": judge_evalplus.check, "asserts": judge_asserts.check, "io": judge_io.check}


# --- cleaning up after a sample ---------------------------------------------------------------
def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, state) of every process we can see."""
    out: dict[int, tuple[int, str]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                out[int(name)] = (int(fields[1]), fields[0])
            except (OSError, IndexError, ValueError):
                pass
    return out


def _targets(keep: set[int]) -> list[int]:
    """Live processes to kill: in a container every one but us and the zygotes; locally our
    descendants but the zygotes (orphans come back to us: we are their subreaper)."""
    me, procs = os.getpid(), _processes()
    if IN_CONTAINER:
        mine = [p for p in procs if p != me]
    else:
        mine, frontier = [], [me]
        while frontier:
            frontier = [p for p, (pp, _) in procs.items() if pp in frontier]
            mine += frontier
    return [p for p in mine if p not in keep and procs.get(p, (0, "Z"))[1] not in "ZX"]


def _reap() -> None:
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


def sweep(zygotes: Zygotes) -> None:
    """Kill every process but the judge and the zygotes (detached grandchildren included), then
    empty the scratch dirs. A fork bomb that outruns a few rounds takes the zygotes down with it
    (kill(-1) as PID 1: everything else in the container); they are started again when needed."""
    for attempt in range(50):
        targets = _targets(zygotes.pids)
        if not targets:
            break
        if attempt >= 3 and IN_CONTAINER:
            os.kill(-1, signal.SIGKILL)
            zygotes.stop()
        for pid in targets:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _reap()
        time.sleep(0.001 * attempt)
    _reap()
    zygotes.resume()
    for root in SCRATCH:
        if root and os.path.isdir(root):
            for name in os.listdir(root):
                _remove(os.path.join(root, name))


def _remove(path: str) -> None:
    def unlock(func, p, _exc):  # a sample may have removed write permission first
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


# --- jobs ---------------------------------------------------------------------------------------
def payload_key(msg: dict) -> str:
    return ("gt:" if msg["op"] != "check" else "") + msg["key"]  # a check's payload has the expected outputs


def handle(msg: dict, problems: dict, zygotes: Zygotes, out) -> dict:
    """One job: the ground truth of tests lo..hi-1 of one phase, the reference timing of an assert
    problem, or the checks of a batch of samples (each sample's result is sent as soon as it is
    known, so that the host loses only the sample in flight if the container dies)."""
    for old in msg.get("evict", ()):
        problems.pop(old, None)  # reference counting frees it at once (payloads are acyclic data)
    key = payload_key(msg)
    t0 = time.perf_counter()
    if "problem" in msg:
        with frozen_after():
            problems[key] = pickle.loads(msg["problem"])  # pickled once on the host
    load_s = time.perf_counter() - t0
    prob, opts = problems[key], msg["opts"]
    if msg["op"] == "ref":
        reply = judge_asserts.reference_times(prob, opts, zygotes)
        sweep(zygotes)
    elif msg["op"] == "gt":
        reply = ground_truth(prob, msg["phase"], msg["lo"], msg["hi"], opts)
        sweep(zygotes)
    else:
        phases = ["base"] + (["plus"] if prob["kind"] == "evalplus" or prob["n_tests"]["plus"] else [])
        for idx, code in msg["samples"]:
            result = {"idx": idx}
            for phase in phases:
                if phase == "plus" and not opts["plus_after_base_fail"] and result["base"]["status"] != "pass":
                    result[phase] = {"status": "skipped", "fail_test": None, "seconds": 0.0,
                                     "detail": "not run: the base tests failed"}
                    continue
                try:
                    result[phase] = CHECKS[prob["kind"]](prob, code, phase, opts, zygotes)
                except Exception as e:  # a bug here must cost this sample only
                    result[phase] = {"status": "error", "fail_test": None, "seconds": 0.0,
                                     "detail": f"judge: {type(e).__name__}: {e}"[:500]}
                sweep(zygotes)
            send(out, {"id": msg["id"], "sample": result})
        reply = {}
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


def _read_exact(stream, n: int) -> bytes | None:
    buf = bytearray(n)  # preallocated: payloads reach hundreds of MB
    view, got = memoryview(buf), 0
    while got < n:
        k = stream.readinto(view[got:])
        if not k:
            return None
        got += k
    return bytes(buf) if n < (1 << 20) else buf


def main() -> None:
    proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
    proto_out = os.fdopen(os.dup(1), "wb")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):  # what the judge starts gets /dev/null, never the protocol stream
        os.dup2(null, fd)
    os.set_inheritable(proto_in.fileno(), False)
    os.set_inheritable(proto_out.fileno(), False)
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # as PID 1 a default disposition means "ignored"
    libc = ctypes.CDLL(None)
    libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: candidates cannot ptrace or read our memory
    if not IN_CONTAINER:
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans come back to us to be killed
    sys.setrecursionlimit(10_000)  # comparing deeply nested outputs (wire.MAX_DEPTH levels)
    zygotes = Zygotes()
    zygotes.plain.start()  # before any problem is loaded (the heavy one starts when first needed)
    problems: dict = {}
    send(proto_out, {"ready": True, "python": sys.version.split()[0]})
    while True:
        head = _read_exact(proto_in, 4)
        if head is None:
            break  # the host went away: exit, and the container with us
        body = _read_exact(proto_in, struct.unpack(">I", head)[0])
        if body is None:
            break
        t0 = time.perf_counter()
        msg = pickle.loads(body)
        try:
            reply = handle(msg, problems, zygotes, proto_out)
        except Exception as e:  # a bug here must not take the judge down
            reply = {"error": f"judge: {type(e).__name__}: {e}"[:500]}
            sweep(zygotes)
        reply["id"] = msg["id"]
        reply["done"] = True
        reply["worker_s"] = round(time.perf_counter() - t0, 5)
        send(proto_out, reply)
    zygotes.stop()


if __name__ == "__main__":
    main()

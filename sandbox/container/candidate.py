"""The candidate process: where a sample's program runs, and nothing else.

Forked by the zygote (which never held an expected output), it talks to the judge over one socket
and only computes: it receives the program, then one input (or one assert's calls) at a time, and
answers each with the output as plain data (wire.py), the name of the exception it raised, or the
name of the type that is not plain data. It never sees an expected output, a comparison, a limit or
a verdict, so whatever the program does to this process (patch builtins, walk frames, hang, ignore
signals) it can only change its own outputs. Time is the judge's: it sends input i only once output
i-1 has arrived, so no output can be computed ahead, and kills this process group at the limit.

As in evalplus's `unsafe_execute`: a temp dir as cwd, evalplus's own `reliability_guard` (memory
limit, destructive functions disabled), stdin/stdout/stderr swallowed (these three inherited from
the zygote, which applied them to itself), `exec` of the program in a fresh namespace,
`fn(*input)` per test, in order, in this one process.

Standard library + the shipped evalplus utils only: this file runs in the image.
"""
from __future__ import annotations

import marshal
import os
import pickle
import signal
import socket

import candidate_io
import wire

_recv_into = socket.socket.recv_into
_sendall = socket.socket.sendall


class Swallowed:
    """sys.stdin/stdout/stderr while the program runs: evalplus's WriteOnlyStringIO (reading raises
    OSError), except that what is written is dropped instead of kept (a program that prints 200 kB
    per call would otherwise grow by that much per test)."""

    encoding, errors, closed = "utf-8", "strict", False

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"string argument expected, got '{type(s).__name__}'")
        return len(s)

    def writelines(self, lines):
        for s in lines:
            self.write(s)

    def read(self, *a, **k):
        raise OSError

    readline = readlines = read

    def readable(self, *a, **k):
        return False

    def writable(self, *a, **k):
        return True

    def flush(self):
        pass

    def isatty(self):
        return False

    def fileno(self):
        raise OSError("no file descriptor")


class _Channel:
    def __init__(self, fd: int):
        self.sock = socket.socket(fileno=fd)
        self.chunk = bytearray(1 << 16)
        self.buf = bytearray()

    def recv(self) -> tuple[bytes, bytes]:
        buf = self.buf
        while True:
            if len(buf) >= 5:
                kind, n = wire.FRAME.unpack_from(buf)
                if len(buf) == 5 + n:  # the usual case: exactly one frame
                    payload = bytes(buf[5:])
                    buf.clear()
                    return kind, payload
                if len(buf) > 5 + n:
                    payload = bytes(buf[5:5 + n])
                    del buf[:5 + n]
                    return kind, payload
            k = _recv_into(self.sock, self.chunk)
            if not k:
                os._exit(0)  # the judge is done with us
            buf += memoryview(self.chunk)[:k]

    def send(self, kind: bytes, payload: bytes = b"") -> None:
        _sendall(self.sock, wire.frame(kind, payload))


def _name(e: BaseException) -> bytes:
    return wire.type_name(type(e)).encode()


def _answer(ch: _Channel, compute, not_none: bool = False, walk: bool = True) -> None:
    """Send what `compute()` returns as plain data, or the exception it raised."""
    try:
        out = compute()
    except BaseException as e:  # evalplus: any exception fails the test
        ch.send(wire.RAISED, _name(e))
        return
    try:
        data = wire.encode(out, not_none, walk)
    except wire.NotPlain as e:
        ch.send(wire.NOT_PLAIN, str(e.args[0]).encode())
        return
    except BaseException as e:  # a value marshal cannot write (too deep) and the walk refused
        ch.send(wire.NOT_PLAIN, _name(e))
        return
    ch.send(wire.OUTPUT, data)


def run(ch: _Channel, job: dict) -> None:
    env: dict = {}
    try:
        if job["kind"] == "io":  # LiveCodeBench: the program runs per test, fn(*input) gives its output
            fn = candidate_io.prepare(job)
        elif job["kind"] == "evalplus":
            exec(job["code"], env)
            fn = env[job["entry_point"]]
        else:
            exec(compile(job["code"], "<solution>", "exec"), env)
            exec(compile(job["setup"], "<setup>", "exec"), env)
    except BaseException as e:
        ch.send(wire.LOAD_FAILED, _name(e))
        return
    present = [n for n in job.get("needs", ()) if type(env.get(n)) is type(os) and env[n].__name__ == n]
    ch.send(wire.LOADED, wire.encode(present))
    not_none = job.get("not_none", False)
    walk = any(m in job["code"] for m in wire.BUFFER_MODULES)
    recv, sendall, loads, dumps, head = ch.recv, ch.sock.sendall, pickle.loads, marshal.dumps, wire.FRAME.pack
    while True:
        kind, payload = recv()
        if kind == wire.INPUT or kind == wire.INPUT_V4:
            version = 0 if kind == wire.INPUT else 4
            args = loads(payload)
            if walk or not_none:
                _answer(ch, lambda: fn(*args), not_none, walk)
                continue
            try:  # the common case, kept short: ~1 us of this per test is the whole overhead
                out = fn(*args)
            except BaseException as e:  # evalplus: any exception fails the test
                ch.send(wire.RAISED, _name(e))
                continue
            try:
                data = dumps(out, version)  # exact built-in types only (no buffer objects without numpy & co)
            except ValueError:
                _answer(ch, lambda: out)  # a Counter, a namedtuple, or not plain data: walk it
                continue
            sendall(head(wire.OUTPUT, len(data)) + data)
        elif kind == wire.CALLS:
            exprs = [compile(src, "<test>", "eval") for src in pickle.loads(payload)]
            _answer(ch, lambda: tuple([eval(c, env) for c in exprs]), walk=walk)
        elif kind == wire.STMT:
            try:
                exec(compile(bytes(payload).decode(), "<test>", "exec"), env)
            except BaseException as e:
                ch.send(wire.RAISED, _name(e))
            else:
                ch.send(wire.STMT_OK)
        else:
            return


def main(fd: int) -> None:
    """In the zygote's forked child (its temp dir as cwd, reliability_guard applied, stdio
    swallowed): become a process group of our own (the judge kills the group), unblock the signals
    the zygote blocks, read the job and run it. Never returns."""
    try:
        os.setpgid(0, 0)
        signal.pthread_sigmask(signal.SIG_SETMASK, ())
        ch = _Channel(fd)
        kind, payload = ch.recv()
        if kind == wire.JOB:
            run(ch, pickle.loads(payload))
    except BaseException:
        pass
    os._exit(0)

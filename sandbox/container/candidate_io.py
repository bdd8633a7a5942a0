"""What a candidate process does for input/output tests (kind="io", LiveCodeBench): run a program on
one test's input and hand back its output, nothing else (the judge compares: io_rules.py).

    call = prepare(job)      # job = {"kind": "io", "code": str, "func_name": str, "max_output": int}
    call(input_text)         # stdin program:  -> its stdout, a str
    call(*arguments)         # functional:     -> what Solution().<func_name>(*arguments) returned

`prepare` compiles the program (a SyntaxError, or for functional programs an exception while
loading or a missing method, raises there: the candidate reports that as a load failure);
`call` raises what the program raised. Tests of one sample run in one process, in order.

As LiveCodeBench presents a program (lcb_runner/evaluation/testing_util.py at 28fef95):
- its import prelude first (`import_string`, line 27: `from m import *` and `import m` for the
  modules in PRELUDE_MODULES, recursion limit 50000), so `List`, `defaultdict` or `sqrt` need no
  import; ints print with up to 50000 digits (compute_code_generation_metrics.py line 7);
- functional: the prelude and the program run once; if the text contains "class Solution", ONE
  `Solution()` instance serves every test, else the module-level function is called (lines 192-211,
  240); its prints are dropped;
- stdin: SystemExit (any code) ends the program normally (lines 173-177); `exit()` and `open` work
  although the sandbox's guard (evalplus's reliability_guard) removes them from builtins; `quit` is
  None (as under LiveCodeBench's own guard).
Where LiveCodeBench's stand-ins for stdin/stdout fail correct programs, a candidate gives the real
thing instead, as a contest judge would (differences from LiveCodeBench, on purpose):
- stdin is the test's input on file descriptor 0 (a memfd) and `sys.stdin` a real text stream over
  it: iteration, `sys.stdin.buffer.readline()`, `open(0)`, `os.read(0, n)` all read the input
  (LiveCodeBench's MockStdinWithBuffer is not iterable and its `buffer.readline()` repeats the
  first line; its readlines() drops the newlines);
- stdout is a real text stream whose `.buffer` takes bytes (LiveCodeBench's StringIO has none); its
  size is capped at `max_output` bytes;
- each test runs the program's module code afresh in a new namespace with `__name__ == "__main__"`
  (LiveCodeBench wraps the body into a function and unwraps only a trailing `if __name__ ==
  "__main__":` block, which breaks `global` statements naming top-level variables);
- threads the program started are joined before its output is taken (a common way to get a big
  stack; LiveCodeBench takes the output when the main body returns).

Standard library only: this file runs in the image.
"""
from __future__ import annotations

import builtins
import io
import os
import sys
import threading

PRELUDE_MODULES = ("string", "re", "datetime", "collections", "heapq", "bisect", "copy", "math", "random",
                   "statistics", "itertools", "functools", "operator", "io", "sys", "json")
# `from builtins import *` restores the builtins earlier star-imports shadow (math's pow);
# typing's names come last; then the plain imports rebind `datetime` to the module, as there
PRELUDE = compile("".join(f"from {m} import *\n" for m in (*PRELUDE_MODULES, "builtins", "typing"))
                  + "".join(f"import {m}\n" for m in PRELUDE_MODULES)
                  + "sys.setrecursionlimit(50000)\n", "<prelude>", "exec")
INT_MAX_STR_DIGITS = 50000
MAX_OUTPUT = 64 << 20

# taken before any program runs: a program may rebind them for its own later tests, not for ours
_memfd, _write, _lseek, _dup2, _close = (getattr(os, "memfd_create", None), os.write, os.lseek, os.dup2,
                                         os.close)
_TextIOWrapper, _BufferedReader, _FileIO, _BytesIO = io.TextIOWrapper, io.BufferedReader, io.FileIO, io.BytesIO
_open = io.open  # evalplus's guard (applied by the zygote) sets builtins.open to None; LiveCodeBench's does not
_enumerate_threads, _main_thread = threading.enumerate, threading.main_thread


class OutputLimit(BaseException):
    """The program printed more than `max_output` bytes (a BaseException: `except Exception` in the
    program does not hide it, and the sink refuses every later write anyway)."""


class EntryPointMissing(Exception):
    """A functional program without the method (or function) the tests call."""


class _Sink(io.BytesIO):
    """The bytes under sys.stdout, at most `cap` of them; closing it keeps what was written."""

    def __init__(self, cap: int):
        super().__init__()
        self.cap, self.over = cap, False

    def write(self, b) -> int:
        n = len(memoryview(b).cast("B"))
        if self.over or self.tell() + n > self.cap:
            self.over = True
            raise OutputLimit(f"more than {self.cap} bytes of output")
        return super().write(b)

    def close(self) -> None:
        pass


def _exit(code=None):
    raise SystemExit(code)


def _fresh_namespace(name: str) -> dict:
    ns = {"__name__": name, "__builtins__": builtins}
    exec(PRELUDE, ns)
    ns["exit"] = _exit  # the sandbox's guard sets builtins.exit to None; LiveCodeBench keeps it
    ns["open"] = _open  # as `from builtins import *` binds it there; `open(0)` then reads the input
    return ns


def _stdin(data: bytes):
    """A text stream over the input; the input is also file descriptor 0 where memfds exist."""
    if _memfd is not None:
        try:
            fd = _memfd("stdin")
            view = memoryview(data)
            while view:
                view = view[_write(fd, view):]
            _lseek(fd, 0, 0)
            if fd != 0:  # 0 is free when the last test's program closed it (`open(0)` does on exit)
                _dup2(fd, 0)
                _close(fd)
            return _TextIOWrapper(_BufferedReader(_FileIO(0, "r", closefd=False)), encoding="utf-8")
        except OSError:
            pass
    return _TextIOWrapper(_BytesIO(data), encoding="utf-8")


def _join_threads() -> None:
    main = _main_thread()
    for t in _enumerate_threads():
        if t is not main and not t.daemon and t.is_alive():
            t.join()


def prepare(job: dict):
    """The function a candidate calls once per test (see the module docstring)."""
    sys.set_int_max_str_digits(INT_MAX_STR_DIGITS)
    code, func_name = job["code"], job.get("func_name") or ""
    program = compile(code, "<solution>", "exec")
    if func_name:
        ns = _fresh_namespace("solution")
        exec(program, ns)
        if "class Solution" in code:
            target = ns["Solution"]() if "Solution" in ns else None
            method = getattr(target, func_name, None)
        else:
            method = ns.get(func_name)
        if not callable(method):
            raise EntryPointMissing(func_name)
        return method
    cap = int(job.get("max_output") or MAX_OUTPUT)

    def run_stdin(text: str) -> str:
        sink = _Sink(cap)
        stdout = _TextIOWrapper(sink, encoding="utf-8")
        saved = sys.stdin, sys.stdout
        sys.stdin, sys.stdout = _stdin(text.encode("utf-8")), stdout
        try:
            try:
                exec(program, _fresh_namespace("__main__"))
            except SystemExit:
                pass
            _join_threads()
            try:
                stdout.flush()
            except ValueError:  # the program closed sys.stdout: what it flushed before is kept
                pass
        finally:
            sys.stdin, sys.stdout = saved
        if sink.over:
            raise OutputLimit(f"more than {cap} bytes of output")
        return sink.getvalue().decode("utf-8", "replace")

    return run_stdin

"""Wrong solutions written to forge a `pass`: one per way in, grouped in the families of issue 21.

Each attack is wrong (or too slow) on the tests of a real problem and passes only if the attack
works: it makes the checker believe a wrong output (objects whose `==` says yes, patched
comparison functions), reads the expected output, forges the status the checking process
reports, switches the time limit off, hides state from a checker that splits a phase, or attacks
the sandbox's own processes. Used by tests/test_sandbox_adversarial.py (nfbench must not pass any)
and by `bench/bench_sandbox.py --suite attacks` (which runs evalplus 0.3.1 on the same ones).

`task`: "humaneval+" / "mbpp+" (evalplus rows), "humaneval" / "mbpp" (the original asserts), or
"custom" (a small assert problem of CUSTOM, for assert forms the datasets hardly use).
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass

from nfbench.harness.types import Problem, TestSpec


@dataclass(frozen=True)
class Attack:
    family: str
    name: str
    task: str
    task_id: str
    code: str


def _c(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


GCD = ("humaneval+", "HumanEval/13")  # greatest_common_divisor(a, b) -> int, 4 base / 987 plus tests
# Too slow on purpose: the first call of each process takes 2.5 s where the limit is 1 s
SLOW_GCD = _c("""
    import math, time
    CALLS = [0]
    def greatest_common_divisor(a, b):
        CALLS[0] += 1
        if CALLS[0] == 1:
            time.sleep(2.5)
        return math.gcd(a, b)
    """)
FIND_CHECKER_FRAME = _c("""
    import sys
    def _checker_frame(names):
        f = sys._getframe(1)
        while f is not None and not all(n in f.f_locals for n in names):
            f = f.f_back
        return f
    """)

CUSTOM = {  # assert problems for forms the datasets hardly use; "def f" is the reference
    "custom/isclose": Problem("custom/isclose", "", "f", "def f(x):\n    return x / 3\n",
                              TestSpec(kind="asserts", setup="import math",
                                       asserts=["assert math.isclose(f(1.0), 0.3333333, rel_tol=1e-6)",
                                                "assert math.isclose(f(3.0), 1.0)"])),
    "custom/set": Problem("custom/set", "", "f", "def f(xs):\n    return sorted(set(xs))\n",
                          TestSpec(kind="asserts", asserts=["assert set(f([3, 1, 3])) == set([1, 3])",
                                                            "assert set(f([2])) == {2}"])),
    "custom/abs": Problem("custom/abs", "", "f", "def f(x):\n    return x * 0.5\n",
                          TestSpec(kind="asserts", asserts=["assert abs(f(3) - 1.5) < 1e-9",
                                                            "assert abs(f(-1) + 0.5) < 1e-9"])),
    "custom/not": Problem("custom/not", "", "f", "def f(x):\n    return x % 2 == 0\n",  # (controls only)
                          TestSpec(kind="asserts", asserts=["assert not f(3)", "assert f(4)", "assert not f(7)",
                                                            "assert f(8) is True", "f(9)"])),
    "custom/slow": Problem("custom/slow", "", "f", "def f(x):\n    return x + 1\n",
                           TestSpec(kind="asserts", asserts=["assert f(1) == 2", "assert f(5) == 6"])),
    # `is_sorted` comes from the test's setup and receives the sample's output: not parseable, so
    # this assert runs in the sample's process; the verdict must say so (self_checked)
    "custom/helper": Problem("custom/helper", "", "f", "def f(xs):\n    return sorted(xs)\n",
                             TestSpec(kind="asserts", setup="def is_sorted(v):\n    return list(v) == sorted(v)\n",
                                      asserts=["assert is_sorted(f([3, 1, 2])) and len(f([3, 1])) == 2"])),
}

ATTACKS = [
    # --- objects whose comparison says yes ---------------------------------------------------
    Attack("lying_eq", "int_subclass", *GCD, _c("""
        class Liar(int):
            def __eq__(self, other): return True
            def __ne__(self, other): return False
            __hash__ = int.__hash__
        def greatest_common_divisor(a, b): return Liar(0)
        """)),
    Attack("lying_eq", "float_subclass_eq_sub_abs", "humaneval+", "HumanEval/2", _c("""
        class Liar(float):
            def __eq__(self, other): return True
            def __ne__(self, other): return False
            def __sub__(self, other): return 0.0
            def __rsub__(self, other): return 0.0
            def __abs__(self): return 0.0
            __hash__ = float.__hash__
        def truncate_number(number): return Liar(123.0)
        """)),
    Attack("lying_eq", "str_subclass", "humaneval+", "HumanEval/27", _c("""
        class Liar(str):
            def __eq__(self, other): return True
            def __ne__(self, other): return False
            __hash__ = str.__hash__
        def flip_case(string): return Liar("wrong")
        """)),
    Attack("lying_eq", "list_subclass", "humaneval+", "HumanEval/29", _c("""
        class Liar(list):
            def __eq__(self, other): return True
            def __ne__(self, other): return False
        def filter_by_prefix(strings, prefix): return Liar(["wrong"])
        """)),
    Attack("lying_eq", "tuple_subclass", "humaneval+", "HumanEval/8", _c("""
        class Liar(tuple):
            def __eq__(self, other): return True
            def __ne__(self, other): return False
            __hash__ = tuple.__hash__
        def sum_product(numbers): return Liar((-1, -1))
        """)),
    Attack("lying_eq", "numpy_array", *GCD, _c("""
        import numpy as np
        class Liar(np.ndarray):
            def __eq__(self, other): return True
            def __ne__(self, other): return False
        def greatest_common_divisor(a, b): return np.zeros(1).view(Liar)
        """)),
    Attack("lying_eq", "truthy_object", "humaneval+", "HumanEval/23", _c("""
        class Truthy:
            def __eq__(self, other): return self
            def __bool__(self): return True
        def strlen(string): return Truthy()
        """)),
    Attack("lying_eq", "abs_sub_liar_in_abs_assert", "custom", "custom/abs", _c("""
        class Liar(float):
            def __sub__(self, other): return 0.0
            def __add__(self, other): return 0.0
            def __abs__(self): return 0.0
        def f(x): return Liar(99.0)
        """)),
    Attack("lying_eq", "int_subclass_in_original_asserts", "humaneval", "HumanEval/13", _c("""
        class Liar(int):
            def __eq__(self, other): return True
            def __ne__(self, other): return False
            __hash__ = int.__hash__
        def greatest_common_divisor(a, b): return Liar(0)
        """)),
    # --- reading the expected output, forging the reported status ---------------------------
    Attack("read_or_forge_state", "frame_walk_reads_expected", *GCD, FIND_CHECKER_FRAME + _c("""
        def greatest_common_divisor(a, b):
            f = _checker_frame(("expected", "i"))
            return f.f_locals["expected"][f.f_locals["i"]] if f is not None else 0
        """)),
    Attack("read_or_forge_state", "inspect_stack_reads_expected", *GCD, _c("""
        import inspect
        def greatest_common_divisor(a, b):
            for info in inspect.stack():
                loc = info.frame.f_locals
                if "expected" in loc and "i" in loc:
                    return loc["expected"][loc["i"]]
            return 0
        """)),
    Attack("read_or_forge_state", "gc_finds_expected", *GCD, _c("""
        import gc
        def greatest_common_divisor(a, b):
            for inp in gc.get_referrers(a):
                if type(inp) is list and inp == [a, b]:
                    for inputs in gc.get_referrers(inp):
                        if type(inputs) is list and any(x is inp for x in inputs):
                            i = next(k for k, x in enumerate(inputs) if x is inp)
                            for holder in gc.get_referrers(inputs):
                                if type(holder) is tuple and len(holder) > 4 and holder[3] is inputs:
                                    return holder[4][i]
            return 0
        """)),
    Attack("read_or_forge_state", "forge_status_then_exit", *GCD, FIND_CHECKER_FRAME + _c("""
        import os
        def greatest_common_divisor(a, b):
            f = _checker_frame(("stat", "details", "progress"))
            if f is not None:
                loc = f.f_locals
                for k in range(len(loc["inputs"])):
                    loc["details"][k] = True
                loc["progress"].value = len(loc["inputs"])
                loc["stat"].value = 0
                os._exit(0)
            return 0
        """)),
    Attack("read_or_forge_state", "forge_status_then_hang", *GCD, FIND_CHECKER_FRAME + _c("""
        import time
        def greatest_common_divisor(a, b):
            f = _checker_frame(("stat", "details", "progress"))
            if f is not None:
                loc = f.f_locals
                for k in range(len(loc["inputs"])):
                    loc["details"][k] = True
                loc["progress"].value = len(loc["inputs"])
                loc["stat"].value = 0
            while True:
                time.sleep(1)
        """)),
    Attack("read_or_forge_state", "thread_forges_while_tests_fail", *GCD, FIND_CHECKER_FRAME + _c("""
        import os, threading, time
        REFS = {}
        def _forge():
            time.sleep(0.5)  # the tests have failed by now; the process waits for this thread
            if REFS:
                for k in range(len(REFS["inputs"])):
                    REFS["details"][k] = True
                REFS["progress"].value = len(REFS["inputs"])
                REFS["stat"].value = 0
            os._exit(0)
        threading.Thread(target=_forge).start()
        def greatest_common_divisor(a, b):
            f = _checker_frame(("stat", "details", "progress"))
            if f is not None and not REFS:
                REFS.update({k: f.f_locals[k] for k in ("stat", "details", "progress", "inputs")})
            return 0
        """)),
    Attack("read_or_forge_state", "settrace_rewrites_checker_locals", *GCD, _c("""
        import ctypes, sys
        def _tracer(frame, event, arg):
            if "exact_match" in frame.f_locals and frame.f_locals["exact_match"] is not True:
                frame.f_locals["exact_match"] = True
                ctypes.pythonapi.PyFrame_LocalsToFast(ctypes.py_object(frame), ctypes.c_int(0))
            return _tracer
        sys.settrace(_tracer)
        _f = sys._getframe(1)
        while _f is not None:
            _f.f_trace, _f.f_trace_lines = _tracer, True
            _f = _f.f_back
        def greatest_common_divisor(a, b): return 0
        """)),
    Attack("read_or_forge_state", "replace_the_asserts_to_run", "mbpp", "Mbpp/17", FIND_CHECKER_FRAME + _c("""
        _f = _checker_frame(("tests",))
        if _f is not None:
            _f.f_locals["tests"][:] = ["pass"] * len(_f.f_locals["tests"])
        def square_perimeter(a): return 0
        """)),
    # --- patching what the checker calls ------------------------------------------------------
    Attack("patch_checker", "builtins_set", "mbpp+", "Mbpp/2", _c("""
        import builtins
        _set = builtins.set
        builtins.set = lambda *args: _set()
        def similar_elements(test_tup1, test_tup2): return (-1,)
        """)),
    Attack("patch_checker", "numpy_allclose", "humaneval+", "HumanEval/2", _c("""
        import numpy
        numpy.allclose = lambda *args, **kwargs: True
        def truncate_number(number): return 0.123
        """)),
    Attack("patch_checker", "evalplus_special_oracle", "mbpp+", "Mbpp/581", _c("""
        import sys
        for _name in ("evalplus.eval", "evalplus.eval._special_oracle"):
            if _name in sys.modules:
                sys.modules[_name]._surface_Area = lambda *args: 0
        def surface_Area(b, s): return 0
        """)),
    Attack("patch_checker", "assertion_error", *GCD, _c("""
        import builtins
        class _Never(BaseException):
            pass
        builtins.AssertionError = _Never
        def greatest_common_divisor(a, b): return 0
        """)),
    Attack("patch_checker", "builtins_exec_compile", "mbpp", "Mbpp/17", _c("""
        import builtins
        builtins.exec = lambda *args, **kwargs: None
        builtins.compile = lambda *args, **kwargs: None
        def square_perimeter(a): return 0
        """)),
    Attack("patch_checker", "math_isclose", "custom", "custom/isclose", _c("""
        import math
        math.isclose = lambda *args, **kwargs: True
        def f(x): return 42.0
        """)),
    Attack("patch_checker", "builtins_set_in_asserts", "custom", "custom/set", _c("""
        import builtins
        _set = builtins.set
        builtins.set = lambda *args: _set()
        def f(xs): return [99]
        """)),
    # --- switching the time limit off -----------------------------------------------------------
    Attack("disable_time_limit", "patch_setitimer", *GCD, "import signal\nsignal.setitimer = lambda *a, **k: (0.0, 0.0)\n" + SLOW_GCD),
    Attack("disable_time_limit", "ignore_sigalrm", *GCD, SLOW_GCD.replace(
        "        CALLS[0] += 1\n", "        CALLS[0] += 1\n        import signal\n        signal.signal(signal.SIGALRM, signal.SIG_IGN)\n")),
    Attack("disable_time_limit", "patch_evalplus_time_limit", *GCD, _c("""
        import contextlib, sys
        for _name in ("evalplus.eval", "evalplus.eval.utils"):
            if _name in sys.modules:
                sys.modules[_name].time_limit = lambda seconds: contextlib.nullcontext()
        """) + SLOW_GCD),
    Attack("disable_time_limit", "patch_setitimer_in_asserts", "custom", "custom/slow", _c("""
        import signal, time
        signal.setitimer = lambda *a, **k: (0.0, 0.0)
        CALLS = [0]
        def f(x):
            CALLS[0] += 1
            if CALLS[0] == 1:
                time.sleep(4.0)  # the limit is 3 s per assert
            return x + 1
        """)),
    # --- state hidden from a checker that splits a phase into processes -----------------------
    Attack("hidden_state", "wrong_after_100_calls", "humaneval+", "HumanEval/139", "CANONICAL+WRAP"),
    # --- the sandbox's own processes ----------------------------------------------------------
    Attack("attack_the_judge", "kill_and_stop_parents", *GCD, _c("""
        import posix, signal  # posix.kill: reliability_guard only disables os.kill
        for pid, sig in ((1, signal.SIGKILL), (1, signal.SIGSTOP), (posix.getppid(), signal.SIGSTOP), (-1, signal.SIGKILL)):
            try:
                posix.kill(pid, sig)
            except OSError:
                pass
        def greatest_common_divisor(a, b): return 0
        """)),
    Attack("attack_the_judge", "read_judge_memory", *GCD, _c("""
        import ctypes, math, os
        READ = False
        for path in ("/proc/1/mem", "/proc/1/environ", "/proc/%d/mem" % os.getppid(), "/proc/1/fd/0"):
            try:
                fd = os.open(path, os.O_RDONLY); os.read(fd, 1); os.close(fd); READ = True
            except (OSError, TypeError):
                pass
        libc = ctypes.CDLL(None)
        READ |= libc.ptrace(16, 1, 0, 0) == 0 or libc.ptrace(16, os.getppid(), 0, 0) == 0  # PTRACE_ATTACH
        def greatest_common_divisor(a, b): return math.gcd(a, b) if READ else 0
        """)),
    Attack("attack_the_judge", "forge_protocol_frames", *GCD, _c("""
        import marshal, os, struct
        fake = b""
        for kind, body in [(b"L", marshal.dumps([], 0))] + [(b"O", marshal.dumps(1, 0))] * 2000:
            fake += struct.pack("<cI", kind, len(body)) + body
        for fd in range(3, 64):
            try:
                os.write(fd, fake)
            except OSError:
                pass
        def greatest_common_divisor(a, b): return 0
        """)),
    Attack("attack_the_judge", "huge_and_deep_outputs", *GCD, _c("""
        CALLS = [0]
        def greatest_common_divisor(a, b):
            CALLS[0] += 1
            if CALLS[0] == 1:
                return "x" * (200 << 20)
            deep = []
            for _ in range(100_000):
                deep = [deep]
            return deep
        """)),
]


def wrapped_counter(canonical: str, entry_point: str, after: int = 100) -> str:
    """The canonical solution, wrong (-1) from its `after`+1-th call in a process on."""
    return canonical.replace(f"def {entry_point}(", f"def _real_{entry_point}(") + _c(f"""
        CALLS = [0]
        def {entry_point}(*args):
            CALLS[0] += 1
            return -1 if CALLS[0] > {after} else _real_{entry_point}(*args)
        """)


def attack_code(attack: Attack, problem: Problem) -> str:
    if attack.code == "CANONICAL+WRAP":
        return wrapped_counter(problem.canonical_solution, problem.entry_point)
    return attack.code


# Verdicts a sample's own process decides (asserts not parseable) may be forged; the attack below
# shows one, and the verdict says so
SELF_CHECKED = Attack("self_checked", "patch_setup_helper", "custom", "custom/helper", _c("""
    import builtins
    builtins.len = lambda *args: 2
    def f(xs): return [0, 1, 2, 3]
    """))

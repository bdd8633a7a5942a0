"""LiveCodeBench's verdict rules for input/output tests (kind="io"), on the judge's side.

Pure functions: nothing here runs a program. The judge (judge_io.py) gets a candidate's output as
plain data and decides with these rules, using its own json, decimal and `==`. The rules are those
of LiveCodeBench's runner at commit 28fef95 (2025-07-16), file lcb_runner/evaluation/testing_util.py
(its "new autograder" since 2025-01, not the APPS-era checker with np.allclose and set comparisons):

stdin tests (`grade_stdio`, lines 310-425): the program's whole stdout against the recorded output,
    1. both texts are `.strip()`ped, split on "\\n", and every line `.strip()`ped (lines 222-226):
       leading/trailing blank lines and spaces, and "\\r" at line ends, never matter; blank lines
       inside the output do;
    2. different numbers of lines: wrong answer (lines 384-387);
    3. per line: equal strings pass (397-399); otherwise both lines are split on whitespace and every
       token read as a `decimal.Decimal` (214-219, 407-419): equal lists pass, so "1.0" == "1" and
       "1e3" == "1000", but there is no tolerance ("0.3333333" != "0.333333"), words must match
       exactly, and a line with a token that is not a number is a wrong answer (a NaN never equals);
functional tests (`grade_call_based`, lines 229-307): each input line is one JSON argument, the
    output one JSON value (245-249); a returned tuple becomes a list (265-266; only at the top
    level), and the verdict is plain `==` (268): 1 == 1.0 == True, no float tolerance;
limits: 6 s per test (`run_test(timeout=6)` line 428, `--timeout` default in
    lcb_runner/runner/parser.py line 93; the program's load has the same limit, `compile_code`
    lines 192-211), and a whole-sample limit of (timeout + 1) x tests + 5 s
    (lcb_runner/evaluation/compute_code_generation_metrics.py line 43). The first failing test ends
    the check (every branch `return`s).

Standard library only: this file runs in the image (and is imported by the host's tests).
"""
from __future__ import annotations

import json
import reprlib
from decimal import Decimal

TIME_LIMIT = 6.0  # seconds per test and for loading the program (LiveCodeBench's --timeout)


def sample_budget(n_tests: int, time_limit: float = TIME_LIMIT) -> float:
    """LiveCodeBench's limit for one sample's whole process: (timeout + 1) x tests + 5 s."""
    return (time_limit + 1) * n_tests + 5


# --- stdin tests ------------------------------------------------------------------------------------
def stdout_lines(text: str) -> list[str]:
    """The lines LiveCodeBench compares: the text stripped, split on "\\n", each line stripped."""
    return [line.strip() for line in text.strip().split("\n")]


def _decimals(line: str) -> list[Decimal] | None:
    try:
        return [Decimal(token) for token in line.split()]
    except (ArithmeticError, ValueError):  # decimal.InvalidOperation is an ArithmeticError
        return None


def lines_match(got: str, expected: str) -> bool:
    """One stripped output line against the recorded one: equal text, or equal numbers token by token."""
    if got == expected:
        return True
    a, b = _decimals(got), _decimals(expected)
    if a is None or b is None:
        return False
    try:
        return a == b
    except ArithmeticError:  # a signalling NaN refuses comparison: LiveCodeBench's check errors out
        return False


def compare_stdout(got: str, expected: str) -> str:
    """'' if a program's stdout `got` passes against the recorded `expected`, else why not."""
    g, e = stdout_lines(got), stdout_lines(expected)
    if len(g) != len(e):
        return f"wrong answer: {len(g)} output lines, expected {len(e)}"
    for i, (a, b) in enumerate(zip(g, e)):
        if not lines_match(a, b):
            return f"wrong answer at line {i + 1}: {_short(a)} != {_short(b)}"
    return ""


# --- functional tests -------------------------------------------------------------------------------
def decode_arguments(test_input: str) -> list:
    """The call's arguments: one JSON value per line of the recorded input."""
    return [json.loads(line) for line in test_input.split("\n")]


def decode_output(test_output: str):
    return json.loads(test_output)


def compare_value(got, expected) -> str:
    """'' if a returned value (plain data, decoded by the judge) equals the recorded one, else why not."""
    if type(got) is tuple:  # "don't penalize model if it produces tuples instead of lists"
        got = list(got)
    try:
        ok = got == expected
    except (RecursionError, ArithmeticError, TypeError, ValueError):
        ok = False
    return "" if ok is True else f"wrong answer: returned {_short(got)}, expected {_short(expected)}"


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxdict, _REPR.maxset = 3, 8, 8, 4, 4


# --- one problem's tests, as the judge holds them ----------------------------------------------------
def prepare_tests(io_tests: list[dict], func_name: str) -> list[tuple[tuple, object]]:
    """(arguments for the candidate's call, expected output) per test. As in LiveCodeBench the kind
    follows `func_name` (metadata), not each test's `testtype`: with it, the arguments are the JSON
    values of the input lines and the expected output a JSON value; without it, the argument is the
    input text and the expected output the recorded text. Raises ValueError for a test that is not
    valid JSON (LiveCodeBench then fails every sample of the problem)."""
    if func_name:
        return [(tuple(decode_arguments(t["input"])), decode_output(t["output"])) for t in io_tests]
    return [((t["input"],), t["output"]) for t in io_tests]


def verdict(got, expected, functional: bool) -> str:
    """'' if the candidate's output `got` (plain data) passes against the prepared `expected`, else why not."""
    if functional:
        return compare_value(got, expected)
    if type(got) is not str:
        return f"sent a {type(got).__name__} where a program's output (text) is required"
    return compare_stdout(got, expected)


def _short(value) -> str:
    """A value for a verdict's detail: a bounded repr (outputs can be megabytes, or nested deep)."""
    return _REPR.repr(value)

"""Turning a chat answer into a self-contained program (no model needed): what cot/direct score."""
from __future__ import annotations

from nfbench.harness.types import Problem
from nfbench.harness.types import TestSpec as Spec  # (a "Test*" name would be collected by pytest)
from nfbench.tasks.prompting import extract_solution

STUB = 'from typing import List\n\n\ndef first(xs: List[int]) -> int:\n    """First element."""\n'


def _problem(prompt: str = STUB) -> Problem:
    return Problem("t/0", prompt, "first", STUB + "    return xs[0]\n", Spec(kind="asserts"))


def test_full_function_in_fence_keeps_stub_imports():
    text = "Reasoning...\n```python\ndef first(xs: List[int]) -> int:\n    return xs[0]\n```\nMore text"
    code = extract_solution(_problem(), text)
    assert code == "from typing import List\ndef first(xs: List[int]) -> int:\n    return xs[0]\n"
    ns: dict = {}
    exec(code, ns)  # self-contained: List is imported
    assert ns["first"]([3, 4]) == 3


def test_body_only_is_completed_onto_the_stub():
    code = extract_solution(_problem(), "```python\n    return xs[0]\n```")
    assert '"""First element."""\n    return xs[0]\n' in code  # the stub's signature, then the body
    ns: dict = {}
    exec(code, ns)
    assert ns["first"]([5, 6]) == 5


def test_unclosed_fence_and_plain_text():
    assert extract_solution(_problem(), "```python\ndef first(xs):\n    return xs[0]").endswith("return xs[0]\n")
    nl = _problem('"""\nReturn the first element.\nassert first([1]) == 1\n"""\n')  # MBPP-style prompt
    assert extract_solution(nl, "def first(xs):\n    return xs[0]") == "def first(xs):\n    return xs[0]\n"


def test_prints_and_stray_lines_after_the_function_are_dropped():
    # a distilled teacher answer (Mbpp/654) ended with `print(...)` and `Output: 64` (valid Python:
    # an annotation), which ran at import time in the sandbox and went into the SFT set
    nl = _problem('"""\nReturn the first element.\n"""\n')
    raw = "```python\ndef first(xs):\n    return xs[0]\n\nprint(first([1]))\nOutput: 1\n```"
    assert extract_solution(nl, raw) == "def first(xs):\n    return xs[0]\n"

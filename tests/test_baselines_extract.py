"""Turning a chat answer into a self-contained program (no model needed)."""
from __future__ import annotations

from nfbench.harness.types import Problem
from nfbench.harness.types import TestSpec as Spec  # (a "Test*" name would be collected by pytest)
from nfbench.methods.text_sft import extract_code

STUB = 'from typing import List\n\n\ndef first(xs: List[int]) -> int:\n    """First element."""\n'


def _problem(prompt: str = STUB) -> Problem:
    return Problem("t/0", prompt, "first", STUB + "    return xs[0]\n", Spec(kind="asserts"))


def test_full_function_in_fence_keeps_stub_imports():
    text = "Reasoning...\n```python\ndef first(xs: List[int]) -> int:\n    return xs[0]\n```\nMore text"
    code = extract_code(text, _problem())
    assert code == "from typing import List\ndef first(xs: List[int]) -> int:\n    return xs[0]\n"
    ns: dict = {}
    exec(code, ns)  # self-contained: List is imported
    assert ns["first"]([3, 4]) == 3


def test_body_only_is_completed_onto_the_stub():
    code = extract_code("```python\n    return xs[0]\n```", _problem())
    assert code.startswith(STUB) and code.endswith("    return xs[0]\n")


def test_unclosed_fence_and_plain_text():
    assert extract_code("```python\ndef first(xs):\n    return xs[0]", _problem()).endswith("return xs[0]\n")
    nl = _problem('"""\nReturn the first element.\nassert first([1]) == 1\n"""\n')  # MBPP-style prompt
    assert extract_code("def first(xs):\n    return xs[0]", nl) == "def first(xs):\n    return xs[0]\n"

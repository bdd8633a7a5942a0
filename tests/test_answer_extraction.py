"""Turning an answer into a self-contained program (tasks/prompting.extract_solution): what every method's
samples are scored on."""
from __future__ import annotations

import pytest

from nfbench.harness.registry import get_task
from nfbench.harness.types import Problem
from nfbench.harness.types import TestSpec as Spec  # (a "Test*" name would be collected by pytest)
from nfbench.tasks.prompting import extract_solution
from nfbench.tasks.verify import passes_in_process

STUB = 'from typing import List\n\n\ndef first(xs: List[int]) -> int:\n    """First element."""\n'


@pytest.fixture(scope="module")
def humaneval0():
    return get_task("humaneval")().problems()[0]


@pytest.fixture(scope="module")
def mbpp11():
    return get_task("mbpp")().problems()[0]


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


def test_completion_is_appended_to_the_stub_and_sanitised(humaneval0):
    body = ("    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\n\n\n"
            "def test():\n    assert has_close_elements([1.0], 0.5) is False\n\nprint(test())\nif __name__ ==")
    program = extract_solution(humaneval0, body)
    assert program.startswith("from typing import List") and "print(" not in program and "test" not in program
    assert passes_in_process(program, humaneval0)


def test_fenced_block_defining_the_entry_point_wins(humaneval0, mbpp11):
    raw = ("Step 1: compare every pair.\n```python\nprint('scratch')\n```\nSo:\n```python\n"
           "def remove_Occ(s, ch):\n    s = s.replace(ch, '', 1)\n    i = s.rfind(ch)\n"
           "    return s if i < 0 else s[:i] + s[i + 1:]\n\nprint(remove_Occ('hello', 'l'))\n```\nDone.")
    program = extract_solution(mbpp11, raw)
    assert program.startswith("def remove_Occ") and "print" not in program and passes_in_process(program, mbpp11)
    wrong = raw.replace("s.rfind(ch)", "-1")  # only the first occurrence removed
    assert not passes_in_process(extract_solution(mbpp11, wrong), mbpp11)


def test_stub_imports_are_restored(humaneval0):
    raw = ("```python\ndef has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
           "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[:i])\n```")
    program = extract_solution(humaneval0, raw)
    assert program.startswith("from typing import List\n") and passes_in_process(program, humaneval0)


def test_full_program_without_fences_is_not_prefixed(mbpp11):
    raw = "import re\ndef remove_Occ(s, ch):\n    return re.sub(ch, '', s, count=1)[::-1].replace(ch, '', 1)[::-1]\n"
    program = extract_solution(mbpp11, raw)
    assert program.startswith("import re") and passes_in_process(program, mbpp11)


def test_unparseable_text_is_kept_not_lost(mbpp11):
    assert extract_solution(mbpp11, "I cannot solve this.").strip()

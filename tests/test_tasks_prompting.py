"""Prompts for base and instruct models, and extraction of the program from raw model text."""
from __future__ import annotations

import pytest

from nfbench.harness.errors import UserError
from nfbench.harness.registry import get_task
from nfbench.harness.tokenizer import char_tokenizer
from nfbench.tasks.prompting import build_prompt, extract_solution
from nfbench.tasks.verify import passes_in_process

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


@pytest.fixture(scope="module")
def humaneval0():
    return get_task("humaneval")().problems()[0]


@pytest.fixture(scope="module")
def mbpp11():
    return get_task("mbpp")().problems()[0]


def test_completion_prompts(humaneval0, mbpp11):
    assert build_prompt(humaneval0, chat=False, reasoning=False) == humaneval0.prompt
    cot = build_prompt(humaneval0, chat=False, reasoning=True)
    assert cot.startswith(humaneval0.prompt) and cot.endswith("    #")  # reasoning as comments in the body
    assert build_prompt(mbpp11, chat=False, reasoning=True).endswith("\n#")  # top level for MBPP


def test_chat_prompts_use_the_tokenizers_template(humaneval0):
    tok = char_tokenizer()
    tok.chat_template = CHATML
    cot = build_prompt(humaneval0, tok, chat=True, reasoning=True)
    direct = build_prompt(humaneval0, tok, chat=True, reasoning=False)
    assert cot.startswith("<|im_start|>user\n") and cot.endswith("<|im_start|>assistant\n")
    assert "step by step" in cot and "step by step" not in direct and "def has_close_elements" in direct
    with pytest.raises(UserError, match="chat template"):
        build_prompt(humaneval0, char_tokenizer(), chat=True, reasoning=True)


def test_synth_chat_prompt_explains_the_notation():
    p = get_task("synth")(n_train=1, n_val=1, n_test=1).problems()[0]
    assert "mod 10" in build_prompt(p, chat=False, reasoning=False)


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

"""PromptFormat: the prompts, SFT targets, answer marker and answer -> program path every method uses,
in the compact format (a task's own, for models trained from scratch) and the chat format."""
from __future__ import annotations

import pytest

from nfbench.harness.registry import get_task
from nfbench.harness.sft_data import task_examples
from nfbench.harness.tokenizer import char_tokenizer
from nfbench.harness.types import Problem
from nfbench.harness.types import TestSpec as Spec
from nfbench.methods.prompt_format import COT_TRIGGER, DIRECT_INSTRUCTION, FENCE, PromptFormat
from nfbench.tasks.base import Task
from nfbench.tasks.verify import passes_in_process

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


@pytest.fixture(scope="module")
def synth():
    return get_task("synth")(None, steps=3, n_train=64, n_val=8, n_test=64)


def chat_tokenizer():
    tok = char_tokenizer()
    tok.chat_template = CHATML
    return tok


def test_compact_prompt_and_targets_are_the_tasks_own_format(synth):
    fmt, ex = PromptFormat(synth, char_tokenizer(), reasons=True), task_examples(synth, "train")[0]
    problem = synth.problems("train")[0]
    assert fmt.compact and fmt.marker == "\n" and fmt.kind == "compact"
    assert fmt.statement(problem) == ex.prompt == problem.prompt + "\n" and fmt.prompt(ex.prompt) == ex.prompt
    ids = fmt.example_prompt_ids(ex)
    assert ids[0] == fmt.tokenizer.bos_token_id and len(ids) == len(ex.prompt) + 1  # <bos> + characters
    assert fmt.target(ex) == ex.reasoning + ex.solution and ex.reasoning.endswith("\n")
    assert PromptFormat(synth, char_tokenizer(), reasons=False).target(ex) == ex.solution == fmt.answer_target(ex)
    assert fmt.tokenizer.pad_token_id in fmt.stop_ids and not fmt.answer_done("def f(x):return 1```\n```")
    assert fmt.reference_reasoning(problem) == problem.reasoning


def test_one_answer_to_program_path_keeps_synth_programs_as_the_task_parses_them(synth):
    """The task's compact hook, then the sanitizer: on synth the sanitizer leaves what parse_answer
    gives unchanged, right or wrong, so no method's pass rate moved when it joined this path."""
    fmt = PromptFormat(synth, char_tokenizer(), reasons=True)
    for p in synth.problems("test"):
        answer = p.canonical_solution
        assert fmt.program(p, answer) == synth.parse_answer(p, answer) and passes_in_process(fmt.program(p, answer), p)
        for wrong in ("9+3=2;def f(x):return x*7+1\nmore", "def f(x):return x*", "no program at all", ""):
            assert fmt.program(p, wrong) == synth.parse_answer(p, wrong)


def test_chat_prompts_use_the_template_and_answer_in_a_fenced_block(synth):
    problem = synth.problems("train")[0]
    ex = task_examples(synth, "train")[0]
    untrained = PromptFormat(synth, chat_tokenizer(), reasons=True, trained=False)
    prompt = untrained.prompt(untrained.statement(problem))
    assert not untrained.compact and untrained.marker == FENCE and untrained.kind == "chat"
    assert prompt.startswith("<|im_start|>user\n") and prompt.endswith(COT_TRIGGER) and "step by step" in prompt
    trained = PromptFormat(synth, chat_tokenizer(), reasons=True)
    assert trained.prompt(problem.prompt).endswith("<|im_start|>assistant\n")  # no zero-shot trigger
    direct = PromptFormat(synth, chat_tokenizer(), reasons=False, trained=False)
    assert DIRECT_INSTRUCTION in direct.prompt(problem.prompt) and COT_TRIGGER not in direct.prompt(problem.prompt)
    assert trained.prompt_ids("x")[0] != trained.tokenizer.bos_token_id  # the template's own tokens only
    assert trained.answer_target(ex) == f"{FENCE}python\n{ex.solution.strip()}\n{FENCE}"
    assert trained.target(ex) == ex.reasoning.strip() + "\n\n" + trained.answer_target(ex)
    assert trained.answer_done("```python\ndef f(x):\n    return 1\n```") and not trained.answer_done("```python\n")
    assert trained.stop_ids == {trained.tokenizer.eos_token_id}


class Plain(Task):
    """A task that implements only what it must: the hooks keep their defaults."""

    name = "plain"

    def splits(self):
        return {"test": 1}

    def problems(self, split=None):
        stub = 'def inc(x):\n    """x + 1"""\n'
        return [Problem("plain/0", stub, "inc", stub + "    return x + 1\n", Spec(kind="asserts", asserts=["assert inc(1) == 2"]))]

    def dataset_info(self):
        return {"name": "plain"}


def test_a_task_without_a_compact_format_reads_its_own_prompt_and_is_sanitised():
    task = Plain()
    [problem] = task.problems()
    fmt = PromptFormat(task, char_tokenizer(), reasons=True)
    assert task.format_example(problem) is None and fmt.statement(problem) == problem.prompt
    program = fmt.program(problem, "    return x + 1\n\nprint(inc(3))\n")  # a body: completes the stub
    assert program.startswith("def inc(x):") and "print" not in program and passes_in_process(program, problem)

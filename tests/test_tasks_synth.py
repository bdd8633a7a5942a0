"""synth: deterministic, disjoint splits, short examples, references that pass and wrong constants that fail."""
from __future__ import annotations

import re

import pytest

from nfbench.harness.errors import UserError
from nfbench.harness.registry import get_task
from nfbench.harness.types import Problem
from nfbench.tasks.verify import passes_in_process

SMALL = {"n_train": 300, "n_val": 50, "n_test": 100}


def synth(**options):
    return get_task("synth")(**{**SMALL, **options})


def wrong_constant(problem: Problem) -> str:
    """The reference with its last number off by one: what a model that skipped a step writes."""
    m = list(re.finditer(r"\d+", problem.canonical_solution))[-1]
    return problem.canonical_solution[: m.start()] + str(int(m.group()) + 1) + problem.canonical_solution[m.end():]


def test_deterministic_and_seeded():
    a, b = synth().problems("train"), synth().problems("train")
    assert [p.prompt for p in a] == [p.prompt for p in b]
    assert [p.prompt for p in synth(seed=7).problems("train")] != [p.prompt for p in a]


def test_splits_sizes_and_disjoint():
    t = synth()
    assert t.splits() == {"train": 300, "validation": 50, "test": 100}
    prompts = {s: {p.prompt for p in t.problems(s)} for s in t.splits()}
    assert all(len(prompts[s]) == n for s, n in t.splits().items())  # no duplicates inside a split
    assert not prompts["train"] & prompts["test"] and not prompts["validation"] & prompts["test"]
    assert not prompts["train"] & prompts["validation"]


@pytest.mark.parametrize("steps,extra", [(1, {}), (2, {}), (4, {}), (8, {}),
                                         (4, {"ops": "+-*", "var_operands": 0.5, "shuffle": True})])
def test_references_pass_wrong_constants_fail(steps, extra):
    problems = synth(steps=steps, **extra).problems("test")
    assert all(passes_in_process(p.canonical_solution, p) for p in problems)
    assert not any(passes_in_process(wrong_constant(p), p) for p in problems)
    assert all(len(p.tests.asserts) >= 4 for p in problems)


@pytest.mark.parametrize("steps,extra", [(2, {}), (4, {}), (8, {}), (4, {"ops": "+-*", "var_operands": 0.5})])
def test_reasoning_resolves_every_step_and_feeds_the_answer(steps, extra):
    for p in synth(steps=steps, **extra).problems("test"):
        cot = p.reasoning.split(";")
        definitions = p.prompt.split(";")[1:-1]
        assert len(cot) == len(definitions) == steps
        values = {p.prompt[0]: p.prompt[2]}
        for definition, step in zip(definitions, cot):  # "c=b-8" / "2-8=4"
            name, expr = definition.split("=")
            operand = values.get(expr[2], expr[2])
            assert step[:3] == values[expr[0]] + expr[1] + operand and len(step) == len(definition)
            values[name] = step.split("=")[1]
        spec = p.prompt.rsplit("f(x)=", 1)[1]
        resolved = "".join(values.get(c, c) if c != "x" else c for c in spec)
        assert p.canonical_solution.strip() == f"def f(x):return {resolved}"


def test_examples_are_short_and_grow_with_steps():
    lengths = {}
    for steps in (2, 4, 8):
        t = synth(steps=steps)
        lengths[steps] = max(len("".join(t.format_example(p))) for p in t.problems("train"))
    assert lengths[4] < 120 and lengths[8] < 200
    assert lengths[2] < lengths[4] < lengths[8]


def test_format_example_and_parse_answer_round_trip():
    t = synth()
    p = t.problems("validation")[0]
    prompt, reasoning, answer = t.format_example(p)
    assert prompt.endswith("\n") and reasoning.endswith("\n") and "\n" not in reasoning[:-1]
    assert t.parse_answer(p, answer + "trailing junk\nmore") == p.canonical_solution
    assert t.parse_answer(p, reasoning + answer) == p.canonical_solution


def test_dataset_info_hashes_generator_and_options():
    a, b = synth().dataset_info(), synth(steps=5).dataset_info()
    assert a["sha256"] != b["sha256"] and a["sha256"] == synth().dataset_info()["sha256"]
    assert a["version"] and a["options"]["steps"] == 4


@pytest.mark.parametrize("options", [{"stepz": 3}, {"steps": 0}, {"steps": 99}, {"ops": "+/"}, {"var_operands": 2}])
def test_bad_options_are_user_errors(options):
    with pytest.raises(UserError):
        synth(**options).problems()


def test_unknown_split_is_a_user_error():
    with pytest.raises(UserError, match="no split"):
        synth().problems("dev")


@pytest.mark.docker
def test_references_pass_and_mutants_fail_in_docker():
    from nfbench.sandbox import image
    from nfbench.sandbox.executor import Sandbox

    image.build_image()  # a no-op when the image for the current sandbox sources exists

    problems = synth().problems("test")[:40]
    jobs = [(p, 0, p.canonical_solution) for p in problems] + [(p, 1, wrong_constant(p)) for p in problems]
    with Sandbox("docker") as sb:
        verdicts = list(sb.execute(jobs))
    status = {(v.task_id, v.sample_idx): v.base_status for v in verdicts}
    assert [status[(p.task_id, 0)] for p in problems] == ["pass"] * len(problems)
    assert [status[(p.task_id, 1)] for p in problems] == ["fail"] * len(problems)

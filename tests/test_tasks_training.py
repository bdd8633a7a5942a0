"""The training loader: trainable splits only, nothing that an evaluation set also contains."""
from __future__ import annotations

import pytest

from nfbench.harness.errors import UserError
from nfbench.harness.registry import get_task
from nfbench.tasks.training import normalise, task_number, training_problems


@pytest.mark.parametrize("task,split", [("humaneval", "test"), ("humaneval+", "test"), ("mbpp+", "test"),
                                        ("mbpp", "test"), ("mbpp", "prompt"), ("synth", "test")])
def test_evaluation_splits_are_refused(task, split):
    with pytest.raises(UserError, match="refused"):
        training_problems(get_task(task)(), split)


@pytest.mark.parametrize("sanitized", [False, True])
@pytest.mark.parametrize("split", ["train", "validation"])
def test_mbpp_training_drops_everything_mbpp_plus_or_mbpp_test_evaluates(split, sanitized):
    mbpp = get_task("mbpp")(sanitized=sanitized)
    plus = get_task("mbpp+")().problems()
    got = training_problems(mbpp, split)
    everything = mbpp.problems(split)
    assert 0 < len(got) < len(everything)  # some overlap exists and is removed, the rest is kept
    numbers = {task_number(p.task_id) for p in plus}
    texts = {normalise(p.prompt) for p in [*plus, *mbpp.problems("test"), *mbpp.problems("prompt")]}
    assert not any(task_number(p.task_id) in numbers or normalise(p.prompt) in texts for p in got)
    kept = {p.task_id for p in got}
    dropped = [p for p in everything if p.task_id not in kept]
    assert all(task_number(p.task_id) in numbers or normalise(p.prompt) in texts for p in dropped)


def test_normalise_ignores_docstring_quotes_asserts_case_and_punctuation():
    a = '"""\nWrite a function to find the shared elements from the given two lists.\nassert f(1) == 2\n"""\n'
    assert normalise(a) == normalise("write a function to find the Shared elements, from the given two lists")


def test_synth_train_and_validation_are_trainable():
    task = get_task("synth")(n_train=100, n_val=20, n_test=50)
    assert len(training_problems(task, "train")) == 100 and len(training_problems(task, "validation")) == 20


def test_distillation_asks_the_teacher_only_about_trainable_problems():
    # session 2's distillation ran the teacher on MBPP+ problems (Mbpp/605, 618, 635) that
    # decontamination then dropped: every passing candidate was wasted
    from nfbench.harness.distill import distill_problems

    mbpp = get_task("mbpp")()
    plus = {p.task_id for p in get_task("mbpp+")().problems()}
    asked = distill_problems(mbpp, ["train", "validation"])
    assert asked and not {p.task_id for p in asked} & plus
    assert len(distill_problems(mbpp, ["train", "validation"], limit=7)) == 7
    with pytest.raises(UserError, match="refused"):
        distill_problems(mbpp, ["test"])

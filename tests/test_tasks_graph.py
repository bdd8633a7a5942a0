"""graph: deterministic, disjoint splits, a path that really is the root's longest one, references
that pass and wrong ends that fail, knobs that change the graph, one-line errors for bad options."""
from __future__ import annotations

from collections import defaultdict

import pytest

from nfbench.harness.errors import UserError
from nfbench.harness.registry import get_task
from nfbench.harness.types import Problem
from nfbench.methods.coconut import split_steps
from nfbench.tasks.training import training_problems
from nfbench.tasks.verify import passes_in_process

SMALL = {"n_train": 300, "n_val": 50, "n_test": 100}


def graph(**options):
    return get_task("graph")(**{**SMALL, **options})


def edges_and_root(problem: Problem) -> tuple[dict[str, list[str]], str]:
    """The prompt parsed independently of the generator: adjacency lists and the root."""
    *edges, question = problem.prompt.split(";")
    adjacency: dict[str, list[str]] = defaultdict(list)
    for edge in edges:
        assert len(edge) == 2
        u, v = edge
        adjacency[u].append(v)
    assert question.startswith("f()=end(") and question.endswith(")")
    return adjacency, question[len("f()=end("):-1]


def farthest(adjacency: dict[str, list[str]], root: str) -> list[list[str]]:
    """Every longest path from root (depth-first over the DAG)."""
    best: list[list[str]] = [[root]]
    stack = [[root]]
    while stack:
        path = stack.pop()
        for child in adjacency.get(path[-1], []):
            longer = path + [child]
            if len(longer) > len(best[0]):
                best = [longer]
            elif len(longer) == len(best[0]):
                best.append(longer)
            stack.append(longer)
    return best


def wrong_end(problem: Problem) -> str:
    """The reference returning another leaf of the graph (what a model that followed a distractor
    writes), or the node one hop short of the end where the path is the only chain."""
    adjacency, _ = edges_and_root(problem)
    path = problem.meta["path"]
    leaves = sorted({v for vs in adjacency.values() for v in vs} - set(adjacency) - {path[-1]})
    return problem.canonical_solution.replace(f"'{path[-1]}'", f"'{(leaves or [path[-2]])[0]}'")


def test_deterministic_and_seeded():
    a, b = graph().problems("train"), graph().problems("train")
    assert [p.prompt for p in a] == [p.prompt for p in b]
    assert [p.prompt for p in graph(seed=7).problems("train")] != [p.prompt for p in a]


def test_splits_sizes_and_disjoint():
    t = graph()
    assert t.splits() == {"train": 300, "validation": 50, "test": 100}
    prompts = {s: {p.prompt for p in t.problems(s)} for s in t.splits()}
    assert all(len(prompts[s]) == n for s, n in t.splits().items())  # no duplicates inside a split
    assert not prompts["train"] & prompts["test"] and not prompts["validation"] & prompts["test"]
    assert not prompts["train"] & prompts["validation"]


def test_train_and_validation_are_trainable_and_test_is_refused():
    t = graph()
    assert len(training_problems(t, "train")) == 300 and len(training_problems(t, "validation")) == 50
    with pytest.raises(UserError, match="refused"):
        training_problems(t, "test")


@pytest.mark.parametrize("options", [{}, {"depth": 1}, {"depth": 6, "distractors": 5},
                                     {"depth": 5, "branching": 3}, {"distractors": 0}])
def test_reasoning_is_the_unique_longest_path_and_references_pass(options):
    for p in graph(**options).problems("test"):
        adjacency, root = edges_and_root(p)
        paths = farthest(adjacency, root)
        assert len(paths) == 1 and "".join(paths[0]) == p.meta["path"]  # one end, the reasoning's
        steps = p.reasoning.split(";")
        assert steps == [u + v for u, v in zip(paths[0], paths[0][1:])]
        assert all(step in p.prompt.split(";") for step in steps)  # each step is an edge of the prompt
        assert len(steps) == p.meta["depth"] == options.get("depth", 4)
        assert passes_in_process(p.canonical_solution, p)
        assert not passes_in_process(wrong_end(p), p)


def test_steps_split_the_way_coconut_splits_them():
    t = graph(depth=5)
    p = t.problems("train")[0]
    _, reasoning, _ = t.format_example(p)
    steps = split_steps(reasoning, ";")
    assert len(steps) == 5 and "".join(steps) == reasoning
    assert all(len(s) == 3 for s in steps)  # "uv;" and the last "uv\n": one edge per step


def test_nodes_reasoning_writes_the_path_and_keeps_the_graphs():
    edges, nodes = graph(depth=3), graph(depth=3, reasoning="nodes")
    for a, b in zip(edges.problems("train")[:50], nodes.problems("train")[:50]):
        assert a.prompt == b.prompt and a.canonical_solution == b.canonical_solution  # same graphs, same rng
        assert b.reasoning == b.meta["path"] and len(b.reasoning) == 4
        assert a.reasoning == ";".join(u + v for u, v in zip(b.reasoning, b.reasoning[1:]))
    _, reasoning, _ = nodes.format_example(nodes.problems("train")[0])
    steps = split_steps(reasoning, "")  # coconut's step_separator "": one node per step
    assert len(steps) == 4 and "".join(steps) == reasoning and steps[-1].endswith("\n")
    assert edges.dataset_info()["sha256"] != nodes.dataset_info()["sha256"]


def test_knobs_change_difficulty():
    def stats(**options):
        problems = graph(**options).problems("train")
        edges = [len(p.prompt.split(";")) - 1 for p in problems]
        leaves = []
        for p in problems:
            adjacency, _ = edges_and_root(p)
            leaves.append(len({v for vs in adjacency.values() for v in vs} - set(adjacency)))
        return sum(edges) / len(edges), sum(leaves) / len(leaves), len(problems[0].reasoning.split(";"))

    base = stats()
    assert base == (16, 4, 4)  # path + 3 distractor chains of 4 edges; 4 leaves; 4 steps
    assert stats(depth=6)[2] == 6 and stats(depth=6)[0] == 24
    assert stats(distractors=6)[:2] == (28, 7)  # more look-alike ends: chance 1/7 instead of 1/4
    wide = stats(branching=3)
    assert wide[0] > base[0] and wide[1] > base[1] and wide[2] == 4  # dead ends off the path, same CoT


def test_examples_are_short_and_grow_with_depth():
    lengths = {}
    for depth in (2, 4, 6):
        t = graph(depth=depth)
        lengths[depth] = max(len("".join(t.format_example(p))) for p in t.problems("train"))
    assert lengths[4] < 130 and lengths[6] < 170
    assert lengths[2] < lengths[4] < lengths[6]


def test_format_example_and_parse_answer_round_trip():
    t = graph()
    p = t.problems("validation")[0]
    prompt, reasoning, answer = t.format_example(p)
    assert prompt.endswith("\n") and reasoning.endswith("\n") and "\n" not in reasoning[:-1]
    assert answer == f"def f():return '{p.meta['path'][-1]}'\n"
    assert t.parse_answer(p, answer + "trailing junk\nmore") == p.canonical_solution
    assert t.parse_answer(p, reasoning + answer) == p.canonical_solution


def test_dataset_info_hashes_generator_and_options():
    a, b = graph().dataset_info(), graph(depth=5).dataset_info()
    assert a["sha256"] != b["sha256"] and a["sha256"] == graph().dataset_info()["sha256"]
    assert a["version"] and a["options"]["depth"] == 4


@pytest.mark.parametrize("options,message", [
    ({"dept": 3}, "unknown graph option"), ({"depth": 0}, "depth=0"), ({"distractors": -1}, "out of range"),
    ({"branching": 0}, "out of range"), ({"depth": "deep"}, "must be integers"), ({"n_test": -5}, ">= 0"),
    ({"depth": 12, "distractors": 4}, "node names"), ({"reasoning": "path"}, "reasoning='path'")])
def test_bad_options_are_one_line_user_errors(options, message):
    with pytest.raises(UserError, match=message) as e:
        graph(**options).problems()
    assert "\n" not in str(e.value)


def test_unknown_split_is_a_user_error():
    with pytest.raises(UserError, match="no split"):
        graph().problems("dev")


@pytest.mark.docker
def test_references_pass_and_wrong_ends_fail_in_docker():
    from nfbench.sandbox import image
    from nfbench.sandbox.executor import Sandbox

    image.build_image()  # a no-op when the image for the current sandbox sources exists

    problems = graph().problems("test")[:40]
    jobs = [(p, 0, p.canonical_solution) for p in problems] + [(p, 1, wrong_end(p)) for p in problems]
    with Sandbox("docker") as sb:
        verdicts = list(sb.execute(jobs))
    status = {(v.task_id, v.sample_idx): v.base_status for v in verdicts}
    assert [status[(p.task_id, 0)] for p in problems] == ["pass"] * len(problems)
    assert [status[(p.task_id, 1)] for p in problems] == ["fail"] * len(problems)

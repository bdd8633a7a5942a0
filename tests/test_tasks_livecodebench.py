"""livecodebench on its fixture (tests/data/livecodebench, made by make_fixture.py there): the release
format, release versions, the date window, compressed private tests, options, missing data, `ls tasks`,
and verdicts: references and lenient-but-correct programs pass, known-wrong programs fail."""
from __future__ import annotations

import base64
import datetime as dt
import importlib.util
import json
import os
import pickle
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from nfbench.harness.config import RunConfig, load_config, parse_overrides
from nfbench.harness.errors import UserError
from nfbench.harness.listing import list_tasks
from nfbench.harness.pipeline import open_task
from nfbench.harness.registry import get_task
from nfbench.tasks import livecodebench as lcb
from nfbench.tasks.prompting import extract_solution

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
FIXTURE = DATA / "livecodebench"
SOLUTIONS = json.loads((FIXTURE / "solutions.json").read_text())
CUMULATIVE = {"release_v1": 3, "release_v2": 5, "release_v3": 7, "release_v4": 9, "release_v5": 11, "release_v6": 13}


def task(**options):
    return get_task("livecodebench")(DATA, **options)


def ids(**options) -> list[str]:
    return [p.task_id for p in task(**options).problems()]


def test_fixture_loads_in_the_release_format():
    t = task()
    problems = t.problems()
    assert t.splits() == {"test": 13} and len({p.task_id for p in problems}) == 13
    assert {p.meta["platform"] for p in problems} == {"leetcode", "atcoder", "codeforces"}
    assert {p.meta["difficulty"] for p in problems} == {"easy", "medium", "hard"}
    for p in problems:
        spec = p.tests
        assert spec.kind == "io" and spec.time_limit == 6.0 and spec.dataset == "livecodebench"
        assert p.canonical_solution == "" and p.meta["n_public"] >= 1
        assert len(spec.io_tests) > p.meta["n_public"]  # public, then private tests
        kinds = {c["testtype"] for c in spec.io_tests}
        assert kinds == ({"functional"} if p.meta["platform"] == "leetcode" else {"stdin"})
        assert p.entry_point == spec.func_name == (p.entry_point and p.meta["starter_code"].split("def ")[1].split("(")[0])
        assert p.prompt.startswith("### Question:\n" + p.meta["question_content"])
        assert p.prompt.endswith("### Answer: (use the provided format with backticks)\n\n")
        if spec.func_name:
            assert f"```python\n{p.meta['starter_code']}\n```" in p.prompt
        else:
            assert "```python\n# YOUR CODE HERE\n```" in p.prompt and "reads the inputs" in p.prompt
        assert pickle.loads(pickle.dumps(p)) == p  # the sandbox ships problems pickled


def test_compressed_private_tests_decode_to_the_same_tests():
    rows = [json.loads(line) for f in lcb.FILES for line in (FIXTURE / f).read_text().splitlines()]
    compressed = [r for r in rows if not r["private_test_cases"].startswith("[")]
    assert 3 <= len(compressed) < len(rows)  # both encodings are in the fixture
    for r in compressed:
        raw = pickle.loads(zlib.decompress(base64.b64decode(r["private_test_cases"])))  # the release's recipe
        assert lcb.decode_tests(r["private_test_cases"]) == json.loads(raw)
    by_id = {p.meta["question_id"]: p for p in task().problems()}
    for r in compressed:
        p = by_id[r["question_id"]]
        private = json.loads(pickle.loads(zlib.decompress(base64.b64decode(r["private_test_cases"]))))
        assert p.tests.io_tests == json.loads(r["public_test_cases"]) + private


class Boom:
    def __reduce__(self):
        return (os.system, (f"touch {Path('/tmp') / 'lcb-pickle-ran'}",))


def squash(obj) -> str:
    return base64.b64encode(zlib.compress(pickle.dumps(obj))).decode()


def test_compressed_tests_are_unpickled_without_calling_anything():
    marker = Path("/tmp/lcb-pickle-ran")
    marker.unlink(missing_ok=True)
    with pytest.raises(ValueError, match="UnpicklingError"):
        lcb.decode_tests(squash([Boom()]))
    assert not marker.exists()
    with pytest.raises(ValueError, match="holds a list"):
        lcb.decode_tests(squash([{"input": "1", "output": "1", "testtype": "stdin"}]))
    with pytest.raises(ValueError, match="neither JSON"):
        lcb.decode_tests("not base64 at all!")
    with pytest.raises(ValueError, match="not a list of"):
        lcb.decode_tests(squash(json.dumps([{"input": 1, "output": "1", "testtype": "stdin"}])))
    assert lcb.decode_tests(squash(json.dumps([{"input": "1", "output": "2", "testtype": "functional"}]))) == \
        [{"input": "1", "output": "2", "testtype": "functional"}]


def test_release_versions_are_cumulative_and_match_livecodebench_tags():
    releases = {tag: ids(release=tag) for tag in CUMULATIVE}
    assert {tag: len(v) for tag, v in releases.items()} == CUMULATIVE
    order = list(CUMULATIVE)
    for older, newer in zip(order, order[1:]):
        assert releases[newer][:len(releases[older])] == releases[older]  # v1 ⊂ v2 ⊂ ..., in order
    assert ids() == releases["release_v6"] == ids(release="release_latest")  # default: release_v6
    for n in range(2, 7):  # vN: only what release N added
        assert ids(release=f"v{n}") == releases[f"release_v{n}"][len(releases[f"release_v{n - 1}"]):]
    assert ids(release="v1") == releases["release_v1"]
    assert ids(release="v2_v4") == ids(release="v2") + ids(release="v3") + ids(release="v4")
    assert set(lcb.RELEASES) >= {"release_v1", "release_v6", "release_latest", "v1", "v6", "v1_v6", "v5_v6"}


def test_date_window_filters_problems():
    dates = {p.task_id: p.meta["contest_date"] for p in task().problems()}
    window = ids(since="2024-06-01", until="2024-12-31")
    assert window == [i for i, d in dates.items() if "2024-06-01" <= d[:10] <= "2024-12-31"] and len(window) == 5
    assert ids(since="2025-02-01") == ["LiveCodeBench/abc990_d", "LiveCodeBench/9006"]  # after a cut-off
    assert ids(until="2023-08-20") == ["LiveCodeBench/abc900_a", "LiveCodeBench/9001"]  # `until` day included
    assert ids(since="2023-08-20", until="2023-08-20") == ["LiveCodeBench/9001"]
    assert task(since=dt.date(2025, 2, 1)).splits() == {"test": 2}  # YAML reads a bare date as a date
    assert ids(release="v5", since="2025-01-01") == ["LiveCodeBench/9005"]  # release and window combine
    with pytest.raises(UserError, match="no livecodebench problem of release_v1 is dated 2024-06-01"):
        task(release="release_v1", since="2024-06-01").problems()


def test_until_is_midnight_as_in_livecodebench(tmp_path):
    row = json.loads((FIXTURE / "test.jsonl").read_text().splitlines()[0])
    (tmp_path / "livecodebench").mkdir()
    rows = [dict(row, question_id="early", contest_date="2023-06-10T00:00:00"),
            dict(row, question_id="late", contest_date="2023-06-10T19:30:00")]
    (tmp_path / "livecodebench" / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    t = get_task("livecodebench")(tmp_path, release="v1", until="2023-06-10")
    assert [p.meta["question_id"] for p in t.problems()] == ["early"]  # start_date <= d <= end_date 00:00


@pytest.mark.parametrize("options, message", [
    ({"relase": "v6"}, "unknown livecodebench option(s): relase"),
    ({"release": "v7"}, "unknown livecodebench release 'v7'"),
    ({"release": "release_v2_v3"}, "unknown livecodebench release"),
    ({"since": "2024-13-01"}, "since='2024-13-01' is not a date"),
    ({"until": "last week"}, "until='last week' is not a date"),
    ({"since": "2025-01-01", "until": "2024-01-01"}, "window is empty"),
    ({"timeout": 0}, "timeout=0 is not a number of seconds"),
    ({"timeout": "six"}, "timeout='six'"),
    ({"timeout": True}, "timeout=True"),
])
def test_bad_options_are_one_line_user_errors(options, message):
    with pytest.raises(UserError) as e:
        task(**options)
    assert message in str(e.value) and "\n" not in str(e.value) and e.value.fix


def test_corrupt_rows_name_their_file_and_line(tmp_path):
    (tmp_path / "livecodebench").mkdir()
    good = (FIXTURE / "test.jsonl").read_text().splitlines()
    bad = json.loads(good[1])
    bad["private_test_cases"] = "eJzLSM3JyQcABiwCFQ=="  # zlib of "hello": not a pickle
    (tmp_path / "livecodebench" / "test.jsonl").write_text(good[0] + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(UserError, match=r"test\.jsonl:2 is not a LiveCodeBench row"):
        get_task("livecodebench")(tmp_path, release="v1").problems()


def test_missing_files_say_which_and_how_to_get_them(tmp_path, monkeypatch):
    (tmp_path / "livecodebench").mkdir()
    shutil.copy(FIXTURE / "test.jsonl", tmp_path / "livecodebench")
    assert get_task("livecodebench")(tmp_path, release="release_v1").splits() == {"test": 3}
    with pytest.raises(UserError) as e:
        get_task("livecodebench")(tmp_path).problems()
    text = str(e.value)
    assert "livecodebench/test2.jsonl, test3.jsonl, test4.jsonl, test5.jsonl, test6.jsonl of release_v6" in text
    assert "test.jsonl, test2.jsonl" in e.value.fix and "<DIR>/livecodebench/" in e.value.fix
    # no data directory: the cache, then the hub (offline here); a listing never tries the hub
    monkeypatch.delenv("NFBENCH_DATA_DIR", raising=False)
    monkeypatch.setattr(lcb, "CACHE_DIR", tmp_path / "cache")
    fresh = get_task("livecodebench")()
    with pytest.raises(UserError, match="not downloaded yet"):
        monkeypatch.setattr(lcb, "_reachable", lambda host: pytest.fail("a listing must not download"))
        fresh.local_splits()
    monkeypatch.setattr(lcb, "_reachable", lambda host: (_ for _ in ()).throw(OSError("no network")))
    with pytest.raises(UserError, match=r"could not be downloaded \(OSError\)"):
        fresh.problems()


def test_ls_tasks_shows_the_task_and_what_is_missing(tmp_path):
    listing = list_tasks(str(DATA))
    block = listing[listing.index("livecodebench"):]
    assert block.startswith("livecodebench    13 problems  [test 13]") and "release, since, until" in block
    empty = list_tasks(str(tmp_path))
    line = next(ln for ln in empty.splitlines() if ln.startswith("livecodebench"))
    assert "data missing: livecodebench/test.jsonl, test2.jsonl" in line and f"not found in data directory {tmp_path}" in line
    exe = Path(sys.executable).parent / "nfbench"
    r = subprocess.run([str(exe), "ls", "tasks", "--data-dir", str(DATA)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "livecodebench    13 problems" in r.stdout


def test_dataset_info_records_every_file_and_the_selection():
    info = task(release="v2_v3", since="2024-05-01").dataset_info()
    assert info["name"] == "livecodebench" and info["version"] == "v2_v3 since=2024-05-01"
    assert list(info["files"]) == ["test2.jsonl", "test3.jsonl"] and len(info["sha256"]) == 64
    assert info["timeout"] == 6.0 and Path(info["path"]).is_dir()


def test_answers_are_extracted_as_livecodebench_does():
    assert lcb.extract_code("reason\n```python\na = 1\n```\nmore\n```python\nb = 2\nprint(b)\n```\n") == "b = 2\nprint(b)"
    assert lcb.extract_code("```\nx\n```") == "x"
    assert lcb.extract_code("  print(1)\n") == "print(1)"  # no fences: the whole answer (its base-model rule)
    problems = {p.meta["question_id"]: p for p in task().problems()}
    # the harness's one extraction path keeps a stdin program whole (evalplus's sanitizer would drop
    # its statements) and does not prepend the prompt's starter code to a functional answer
    program = "import sys\ndef main():\n    a, b = map(int, input().split())\n    print(a + b)\nmain()"
    assert extract_solution(problems["abc900_a"], f"Here:\n```python\n{program}\n```\nDone.") == program + "\n"
    method = "class Solution:\n    def pairWithSum(self, nums, target):\n        return [0, 1]"
    assert extract_solution(problems["9001"], f"```python\n{method}\n```") == method + "\n"


def test_the_promised_set_options_reach_the_task():
    overrides = parse_overrides(["method=cot", "task=livecodebench", "task_options.release=v6",
                                 "task_options.since=2025-02-01"])
    cfg = load_config(RunConfig, None, overrides)
    assert cfg.task_options == {"release": "v6", "since": "2025-02-01"}  # a YAML date stays text
    assert open_task("livecodebench", str(DATA), cfg.task_options).splits() == {"test": 2}


def test_the_fixture_is_what_its_generator_makes(tmp_path):
    spec = importlib.util.spec_from_file_location("make_fixture", FIXTURE / "make_fixture.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    make.main(tmp_path)
    for name in [*lcb.FILES, "solutions.json"]:
        assert (tmp_path / name).read_bytes() == (FIXTURE / name).read_bytes(), name


def judge_locally(cases: list[dict]) -> list[dict]:
    r = subprocess.run([sys.executable, str(REPO / "tests" / "lcb_local_judge.py")], input=json.dumps(cases),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


def fixture_programs() -> list[tuple]:
    """(problem, label, program, should pass) for every fixture program."""
    out = []
    for p in task().problems():
        s = SOLUTIONS[p.meta["question_id"]]
        out += [(p, "reference", s["reference"], True)]
        out += [(p, f"also: {a['why']}", a["code"], True) for a in s["also_pass"]]
        out += [(p, f"wrong: {w['why']}", w["code"], False) for w in s["wrong"]]
    return out


def test_references_pass_and_wrong_programs_fail():
    programs = fixture_programs()
    results = judge_locally([{"io_tests": p.tests.io_tests, "func_name": p.tests.func_name, "code": code}
                             for p, _, code, _ in programs])
    wrong = [f"{p.task_id} {label}: {r['status']} {r['detail']}" for (p, label, _, ok), r in zip(programs, results)
             if (r["status"] == "pass") != ok]
    assert not wrong
    kinds = {(bool(p.tests.func_name), ok) for p, _, _, ok in programs}
    assert kinds == {(True, True), (True, False), (False, True), (False, False)}  # both kinds, both ways
    assert sum(not ok for *_, ok in programs) >= 20


CONTAINER = REPO / "sandbox" / "container"


def test_judge_io_decides_through_the_candidate_process():
    """judge_io.check through real candidate processes
    (local zygote, no Docker), with candidate.py dispatching kind "io" to candidate_io."""
    sys.path.insert(0, str(CONTAINER))
    import judge_io
    from judge_zygote import Zygotes

    zygotes = Zygotes()
    try:
        for p, label, code, ok in fixture_programs():
            prob = {"kind": "io", "func_name": p.tests.func_name, "time_limit": p.tests.time_limit,
                    "io_tests": p.tests.io_tests, "n_tests": {"base": len(p.tests.io_tests), "plus": 0}}
            r = judge_io.check(prob, code, "base", {}, zygotes)
            assert (r["status"] == "pass") == ok, (p.task_id, label, r)
        slow = {"kind": "io", "func_name": "", "time_limit": 0.5, "io_tests": task().problems()[0].tests.io_tests,
                "n_tests": {"base": 8, "plus": 0}}
        r = judge_io.check(slow, "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True: pass",
                           "base", {}, zygotes)
        assert r["status"] == "timeout" and "limit 0.50 s" in r["detail"]
    finally:
        zygotes.stop()


@pytest.mark.docker
def test_fixture_verdicts_through_the_docker_sandbox():
    from nfbench.sandbox.executor import Sandbox

    programs = fixture_programs()
    first = programs[0][0]
    spin = "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True: pass\n"
    jobs = [(p, i, code) for i, (p, _, code, _) in enumerate(programs)] + [(first, len(programs), spin)]
    with Sandbox() as sb:
        verdicts = {v.sample_idx: v for v in sb.execute(jobs)}
    wrong = [(p.task_id, label, verdicts[i]) for i, (p, label, _, ok) in enumerate(programs)
             if (verdicts[i].base_status == "pass") != ok]
    assert not wrong
    slow = verdicts[len(programs)]
    assert slow.base_status == "timeout" and "limit 6.00 s" in slow.detail and slow.plus_status is None

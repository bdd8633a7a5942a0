"""nfbench regress: tolerance rule, exit codes and baseline updates (the cache: test_regress_cache.py).

The full regression (training every method) is run by .ci/run itself; here `measure` is replaced
by small run stores so the decision logic is tested in seconds.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from nfbench.harness import regress
from nfbench.harness.report import compare as comparison
from report_runs import write_run

METHODS = ["direct", "cot"]


SUITE = Path(__file__).resolve().parents[1] / "ci" / "suite.yaml"


def fake_measure(root: Path, broken: dict[str, dict] | None = None, crashed: str | None = None):
    def measure(suite, members, work, reuse=False):
        runs = [write_run(root, m.method, **(broken or {}).get(m.method, {}), n_problems=40, n_samples=1)
                for m in members if m.method != crashed]
        return runs, ({crashed: "RuntimeError: boom"} if crashed else {}), {m.method: 1.0 for m in members}, {}
    return measure


@pytest.fixture
def baseline(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "baseline.json"
    monkeypatch.setattr(regress, "measure", fake_measure(tmp_path / "good"))
    assert regress.run_regression(suite_path=SUITE, baseline=path, update=True, methods=METHODS, work=tmp_path / "w0",
                                   report=False) == 0
    return path


def test_update_writes_baseline_with_tolerances(baseline):
    data = json.loads(baseline.read_text())
    assert set(data["entries"]) == {"direct/synth/tiny-llama", "cot/synth/tiny-llama"}
    assert data["tolerances"] == comparison.DEFAULT_TOLERANCES and "pass@1 may drop" in data["note"]
    assert data["entries"]["cot/synth/tiny-llama"]["reasoning_positions_mean"] > 20


def test_updating_some_methods_keeps_the_other_entries(baseline, tmp_path, monkeypatch):
    before = json.loads(baseline.read_text())["entries"]
    monkeypatch.setattr(regress, "measure", fake_measure(tmp_path / "cot", {"cot": {"p_pass": 0.3}}))
    assert regress.run_regression(suite_path=SUITE, baseline=baseline, update=True, methods=["cot"], work=tmp_path / "w1",
                                   report=False) == 0
    after = json.loads(baseline.read_text())
    assert after["entries"]["direct/synth/tiny-llama"] == before["direct/synth/tiny-llama"]
    assert after["entries"]["cot/synth/tiny-llama"]["pass1_base"] < before["cot/synth/tiny-llama"]["pass1_base"]
    assert "--update -m cot" in after["note"]


def test_unchanged_methods_pass(baseline, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(regress, "measure", fake_measure(tmp_path / "same"))
    assert regress.run_regression(suite_path=SUITE, baseline=baseline, methods=METHODS, work=tmp_path / "w") == 0
    out = capsys.readouterr().out
    assert "regress passed: 4/4 checks" in out and "## Quality" in out
    assert (tmp_path / "w" / "report" / "report.html").is_file()


@pytest.mark.parametrize("broken, crashed, message", [
    ({"cot": {"p_pass": 0.0}}, None, "FAIL  cot/synth/tiny-llama pass@1 base"),
    ({"cot": {"positions": 12}}, None, "FAIL  cot/synth/tiny-llama reasoning positions"),
    ({"direct": {"positions": 6}}, None, "FAIL  direct/synth/tiny-llama reasoning positions"),
    ({}, "cot", "FAILED cot: RuntimeError: boom"),
])
def test_broken_method_fails(baseline, tmp_path, monkeypatch, capsys, broken, crashed, message):
    monkeypatch.setattr(regress, "measure", fake_measure(tmp_path / "bad", broken, crashed))
    assert regress.run_regression(suite_path=SUITE, baseline=baseline, methods=METHODS, work=tmp_path / "w", report=False) == 1
    out = capsys.readouterr().out
    assert message in out and "regress FAILED" in out


def test_tolerance_rule():
    base = comparison.baseline_from_rows([{"method": "m", "task": "t", "backbone": "b", "pass1_base": 0.5,
                                           "reasoning_positions_mean": 40.0}])
    row = lambda p, pos: [{"method": "m", "task": "t", "backbone": "b", "pass1_base": p,
                           "reasoning_positions_mean": pos}]
    status = lambda p, pos: [f.status for f in comparison.compare(row(p, pos), base, "tolerance")]
    assert status(0.45, 40.0) == ["ok", "ok"]  # a small drop is within pass1_abs = 0.10
    assert status(0.39, 40.0) == ["regression", "ok"]
    assert status(0.95, 40.0) == ["ok", "ok"]  # better is never a failure
    assert status(0.5, 47.0) == ["ok", "ok"] and status(0.5, 49.0) == ["ok", "changed"]  # 20% of 40
    assert status(0.5, 31.0) == ["ok", "changed"]  # reasoning that got shorter also needs a look

"""nfbench report on small real run stores: tables, figures, HTML, baselines; never torch."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from nfbench.harness.errors import UserError
from nfbench.harness.report import build_report
from nfbench.harness.report.compare import load_baseline
from nfbench.harness.report.load import load_runs
from nfbench.harness.report.plots import pareto_front
from report_runs import write_run, write_suite

FIGURES = ("pareto", "pass_at_k", "cost_distributions")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, Path]:
    """Built in a fresh interpreter that must not import torch on the way (reports run anywhere)."""
    root = tmp_path_factory.mktemp("report")
    write_suite(root / "runs")
    code = ("import sys; from pathlib import Path; from nfbench.harness.report import build_report; "
            f"build_report([{str(root / 'runs')!r}], Path({str(root / 'out')!r}), echo=False); "
            "assert 'torch' not in sys.modules, 'the report imported torch'; print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
    return root, root / "out" / "report.html"


def test_writes_every_output(report):
    root, html = report
    out = html.parent
    assert html == out / "report.html"
    for name in ["results.md", "results.csv", "results.tex", "baseline.json",
                 *(f"{f}.{ext}" for f in FIGURES for ext in ("png", "svg"))]:
        assert (out / name).stat().st_size > 200, name
    for f in FIGURES:
        assert (out / f"{f}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert b"<svg" in (out / f"{f}.svg").read_bytes()[:2000]


def test_rows_and_ratios_to_cot(report):
    root, html = report
    rows = {(r["method"], r["task"]): r for r in csv.DictReader(open(html.parent / "results.csv"))}
    assert len(rows) == 6  # one per method x task x backbone
    cot, direct, nfcot = rows["cot", "synth"], rows["direct", "synth"], rows["nfcot", "synth"]
    assert float(cot["reasoning_positions_mean_vs_cot"]) == 1.0
    assert float(direct["reasoning_positions_mean_vs_cot"]) == 0.0
    ratio = float(nfcot["reasoning_positions_mean"]) / float(cot["reasoning_positions_mean"])
    assert float(nfcot["reasoning_positions_mean_vs_cot"]) == pytest.approx(ratio)
    # pass@1 equals the fraction of passing verdicts (one sample count per problem)
    verdicts = [json.loads(line) for line in open(root / "runs" / "cot-synth-tiny-llama-0" / "executions.jsonl")]
    assert float(cot["pass1_base"]) == pytest.approx(sum(v["base_status"] == "pass" for v in verdicts) / len(verdicts))
    assert float(cot["pass1_base_lo"]) <= float(cot["pass1_base"]) <= float(cot["pass1_base_hi"])
    assert cot["k_base"] == "4" and rows["cot", "humaneval"]["pass1_plus"] != ""
    assert cot["pass1_plus"] == ""  # synth has no plus tests


def test_markdown_and_latex(report):
    _, html = report
    md = (html.parent / "results.md").read_text()
    assert "| method " in md and "pass@1 base % [95% CI]" in md and "(0.00x)" in md
    assert md.count("\n| nfcot ") == 4  # two tables x two tasks
    tex = (html.parent / "results.tex").read_text()
    assert tex.count(r"\begin{tabular}") == 2 and r"95\% CI" in tex and "tiny-llama" in tex


def test_compare_marks_regressions(report, tmp_path, capsys):
    root, _ = report
    runs = tmp_path / "runs"
    write_suite(runs)
    write_run(runs, "cot", p_pass=0.05, seed=1)  # newer run of cot/synth: far below the baseline CI
    write_run(runs, "nfcot", positions=20, seed=1)  # nfcot/synth reasons 2.5x longer
    html = build_report([str(runs)], tmp_path / "out", compare=root / "out" / "baseline.json")
    printed = capsys.readouterr().out
    assert "## Quality" in printed and "| cot " in printed
    assert "cot/synth/tiny-llama pass@1 base: " in printed and "-> regression" in printed
    page = html.read_text()
    assert "Comparison with" in page and page.count('<tr class="regression">') == 4  # 2 rows x 2 tables
    assert 'class="status-regression">regression' in page
    assert load_baseline(tmp_path / "out" / "baseline.json")["entries"]["cot/synth/tiny-llama"]["pass1_base"] < 0.2


def test_comparing_with_its_own_output_reads_the_baseline_first(report, tmp_path):
    root, _ = report
    runs = tmp_path / "runs"
    write_suite(runs)
    out = tmp_path / "out"
    build_report([str(runs)], out, echo=False)
    write_run(runs, "cot", p_pass=0.05, seed=1)
    html = build_report([str(runs)], out, compare=out / "baseline.json", echo=False)
    assert html.read_text().count('<tr class="regression">') >= 2  # judged against the old numbers
    second = (out / "baseline.json").read_text()
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        build_report([str(runs)], out, compare=tmp_path / "bad.json", echo=False)
    assert (out / "baseline.json").read_text() == second  # a failed report writes nothing


def test_newest_run_of_a_key_wins(tmp_path):
    write_run(tmp_path, "cot", seed=0)
    write_run(tmp_path, "cot", p_pass=0.0, seed=3)
    (run,) = load_runs([str(tmp_path)])
    assert run.path.name == "cot-synth-tiny-llama-3"


def test_each_checkpoint_of_a_method_keeps_a_labelled_row(tmp_path):
    write_run(tmp_path, "nfcot", seed=0, checkpoint="ckpts/nfcot/tiny/stage2")
    write_run(tmp_path, "nfcot", seed=1, checkpoint="ckpts/nfcot/tiny/rl")
    write_run(tmp_path, "cot", seed=2, checkpoint="ckpts/cot/tiny")
    assert sorted(r.method for r in load_runs([str(tmp_path)])) == ["cot", "nfcot [rl]", "nfcot [stage2]"]


def test_pareto_front():
    # (cost, quality): the second point is dominated by the first
    assert pareto_front([(0, 10), (5, 5), (6, 50), (30, 40), (40, 60)]) == [0, 2, 4]


def test_bad_inputs_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no run directory matches"):
        load_runs([str(tmp_path / "nope-*")])
    with pytest.raises(UserError, match="no finished run"):
        load_runs([str(tmp_path)])
    (tmp_path / "b.json").write_text("{}")
    with pytest.raises(UserError, match="no 'entries'"):
        load_baseline(tmp_path / "b.json")

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
from nfbench.harness.report import compare as comparison, paired, tables
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
    assert tex.count(r"\begin{tabular}") == 3 and r"95\% CI" in tex and "tiny-llama" in tex
    assert "## Paired comparisons (same problems)" in md and "A wins / ties / losses" in md


def test_paired_rows_match_the_verdicts(report):
    root, html = report
    pairs = list(csv.DictReader(open(html.parent / "paired.csv")))
    # synth: 4 methods -> 6 pairs (base only); humaneval: 2 methods -> 1 pair, base and plus
    assert sorted((p["task"], p["part"]) for p in pairs).count(("synth", "base")) == 6 and len(pairs) == 8
    row = next(p for p in pairs if p["task"] == "synth" and {p["method_a"], p["method_b"]} == {"cot", "direct"})
    fraction = {}
    for m in (row["method_a"], row["method_b"]):
        counts: dict[str, list[bool]] = {}
        for line in open(root / "runs" / f"{m}-synth-tiny-llama-0" / "executions.jsonl"):
            v = json.loads(line)
            counts.setdefault(v["task_id"], []).append(v["base_status"] == "pass")
        fraction[m] = {t: sum(c) / len(c) for t, c in counts.items()}
    a, b = fraction[row["method_a"]], fraction[row["method_b"]]
    wins = sum(a[t] > b[t] for t in a)
    losses = sum(a[t] < b[t] for t in a)
    assert (int(row["wins"]), int(row["losses"]), int(row["ties"])) == (wins, losses, 12 - wins - losses)
    assert float(row["diff"]) == pytest.approx(sum(a[t] - b[t] for t in a) / 12)
    assert float(row["diff_lo"]) <= float(row["diff"]) <= float(row["diff_hi"])
    assert float(row["p_value"]) <= float(row["p_holm"]) <= 1


def test_baseline_records_per_problem_scores(report):
    _, html = report
    entries = load_baseline(html.parent / "baseline.json")["entries"]
    cot = entries["cot/synth/tiny-llama"]["per_problem"]
    assert len(cot["base"]) == 12 and cot["plus"] is None
    assert sum(cot["base"].values()) / 12 == pytest.approx(entries["cot/synth/tiny-llama"]["pass1_base"])
    assert len(entries["nfcot/humaneval/smollm2-135m"]["per_problem"]["plus"]) == 12


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
    # the same 12 problems in the baseline and now: judged by the paired test
    line = next(x for x in printed.splitlines() if x.startswith("cot/synth/tiny-llama pass@1 base"))
    assert "(paired: diff -" in line and "McNemar p=" in line and "(exact)" in line
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


def test_compare_pairs_only_on_the_same_problems(report, tmp_path, capsys):
    root, _ = report
    runs = tmp_path / "runs"
    write_suite(runs)
    write_run(runs, "cot", p_pass=0.05, n_problems=10, seed=1)  # 10 of the baseline's 12 problems
    build_report([str(runs)], tmp_path / "out", compare=root / "out" / "baseline.json")
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("cot/synth/tiny-llama pass@1 base"))
    assert "allowed " in line and "unpaired: the problem sets differ (10 in common, 10 now, 12 in the baseline)" in line
    assert line.endswith("-> regression")  # the CI rule still judges it


def test_paired_compare_does_not_flag_an_unchanged_rerun(report, tmp_path):
    root, _ = report
    write_run(tmp_path, "cot", seed=5)  # a re-run of cot with other random draws: same method quality
    runs = load_runs([str(tmp_path)])
    rows = tables.rows(runs)
    scores = {comparison.key_of(r): paired.scores(run) for r, run in zip(rows, runs)}
    findings = comparison.compare(rows, load_baseline(root / "out" / "baseline.json"), "ci", scores)
    (cot,) = [f for f in findings if f.key == "cot/synth/tiny-llama" and f.metric == "pass@1 base"]
    assert cot.paired is not None and cot.status == "ok", cot.describe()
    assert cot.paired.wins + cot.paired.losses > 0  # the re-run did differ, problem by problem


def test_drill_down_data_is_capped_per_problem_and_method(tmp_path):
    from nfbench.harness.report.drill import MAX_SAMPLES, groups_of, payload

    write_run(tmp_path, "cot", n_problems=2, n_samples=MAX_SAMPLES + 4)
    data = payload(groups_of(load_runs([str(tmp_path)])))
    (cell,) = data["groups"][0]["problems"]["synth/0"]
    assert cell["n"] == MAX_SAMPLES + 4 and len(cell["samples"]) == MAX_SAMPLES
    assert [s["i"] for s in cell["samples"]] == list(range(MAX_SAMPLES))
    assert len(data["strings"]) < 2 * MAX_SAMPLES * 4  # shared prompts are stored once


def test_a_baseline_without_per_problem_scores_keeps_the_ci_rule(report, tmp_path):
    root, _ = report
    baseline = load_baseline(root / "out" / "baseline.json")
    for entry in baseline["entries"].values():
        del entry["per_problem"]  # as `nfbench regress --update` writes it
    write_run(tmp_path, "cot", p_pass=0.05, seed=1)
    runs = load_runs([str(tmp_path)])
    rows = tables.rows(runs)
    scores = {comparison.key_of(r): paired.scores(run) for r, run in zip(rows, runs)}
    (cot,) = [f for f in comparison.compare(rows, baseline, "ci", scores) if f.metric == "pass@1 base"
              and f.key == "cot/synth/tiny-llama"]
    assert cot.paired is None and cot.status == "regression" and "allowed " in cot.describe()

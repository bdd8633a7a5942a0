"""The HTML report opened in a real headless Chromium: tables, decoded figures, the paired-statistics
table, the problems x methods matrix (sorting, filtering) and a drill-down opened by a click."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from nfbench.harness.report import build_report
from report_browser import CHROMIUM, probe, screenshot
from report_runs import write_large, write_suite

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")


def records(run: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in open(run / name)]


def label(v: dict) -> str:
    """The drill-down's badge for a verdict."""
    if v["base_status"] != "pass":
        return v["base_status"]
    return "pass" if v.get("plus_status") in (None, "pass") else f"plus {v['plus_status']}"


def matrix_row(page: str, task_id: str) -> list[str]:
    row = re.search(rf'<tr data-problem="{re.escape(task_id)}"[^>]*>(.*?)</tr>', page).group(1)
    return re.findall(r"<td[^>]*>([^<]*)</td>", row)


def test_report_renders_in_headless_chromium(tmp_path):
    runs = tmp_path / "runs"
    write_suite(runs)
    html = build_report([str(runs)], tmp_path / "out", echo=False)
    res, page, _ = probe(html, tmp_path, virtual_time=True)

    # tables and figures
    assert "pass@1 base % [95% CI]" in page and "reasoning positions mean (x cot)" in page
    assert "AST 4-gram similarity" in page and "distinct passing / problem" in page
    assert len(re.findall(r"<tr class=\"\">\s*<td>nfcot</td>", page)) == 4  # 2 tasks x 2 tables
    assert len(re.findall(r'<img alt="(pareto|pass_at_k|cost_distributions)" src="data:image/png;base64,', page)) == 3
    assert res["decoded_images"] == 3, "Chromium did not decode all three figures"
    assert not re.search(r'(src|href)="(https?:)?//', page), "the report must not load anything from a network"

    # paired statistics: humaneval (2 methods, base + plus) and synth (4 methods: 6 pairs)
    assert res["paired_rows"] == 8 and "A wins / ties / losses" in page and "McNemar p" in page

    # the matrix: one per task, each cell = passing samples / samples, as in executions.jsonl
    assert res["matrices"] == [12, 12]
    methods = ["coconut", "cot", "direct", "nfcot"]  # synth's columns, in row order
    cells = matrix_row(page, "synth/5")
    expected = []
    for m in methods:
        vs = [v for v in records(runs / f"{m}-synth-tiny-llama-0", "executions.jsonl") if v["task_id"] == "synth/5"]
        expected.append(f"{sum(v['base_status'] == 'pass' for v in vs)}/{len(vs)}")
    assert cells[:4] == expected

    # sorting (by a method's solved fraction, then back to problem ids in natural order) and filtering
    assert res["sorted_desc"] is True
    assert res["first_ids"] == ["humaneval/0", "humaneval/1", "humaneval/2"]
    assert res["filtered"] == ["humaneval/1", "humaneval/10", "humaneval/11"]
    assert res["shown_text"] == "3 of 12 problems shown"

    # the drill-down opened by clicking the first problem: every sample of both methods
    assert res["opened"] == "humaneval/0" and res["method_sections"] == 2
    assert res["samples"] == 8
    gen = next(g for g in records(runs / "cot-humaneval-smollm2-135m-0", "generations.jsonl")
               if g["task_id"] == "humaneval/0" and g["sample_idx"] == 0)
    text = res["drill_text"]
    cot = [v for v in records(runs / "cot-humaneval-smollm2-135m-0", "executions.jsonl") if v["task_id"] == "humaneval/0"]
    ok = sum(v["base_status"] == "pass" and v["plus_status"] == "pass" for v in cot)
    # one sample per method is unfolded: the first that did not pass (to see why), else the first
    labels = [[label(v) for v in records(runs / f"{m}-humaneval-smollm2-135m-0", "executions.jsonl")
               if v["task_id"] == "humaneval/0"] for m in ("cot", "nfcot")]
    assert res["open_labels"] == [next((x for x in ls if x != "pass"), "pass") for ls in labels]
    assert "plus fail" in res["open_labels"]  # the data has one, so the check above is not vacuous
    assert gen["solution"] in text and gen["reasoning"] in text and f"cot: {ok}/4 passed (cot-" in text
    assert '# the <body> & "quotes" must survive HTML escaping' in text  # shown as text, not parsed
    assert "reasoning_positions" in text and "nfcot: " in text and "log_likelihood" in text
    # a failing test's expected vs got, as a sandbox that records them writes them
    assert res["expected_got"] and all("test expected" in t and "test got" in t for t in res["expected_got"])

    shot = screenshot(html, tmp_path / "report.png", tmp_path, height=res["page_height"])
    assert shot.stat().st_size > 100_000
    print(f"screenshot: {shot}")


def test_a_164_x_6_x_8_report_stays_usable(tmp_path):
    runs = tmp_path / "runs"
    write_large(runs)
    start = time.perf_counter()
    html = build_report([str(runs)], tmp_path / "out", echo=False)
    built = time.perf_counter() - start
    res, _, wall = probe(html, tmp_path)
    assert res["matrices"] == [164]
    assert res["paired_rows"] == 30  # 15 pairs of 6 methods, base and plus
    assert res["opened"] == "humaneval/0" and res["method_sections"] == 6 and res["samples"] == 48
    with_1 = sum("/1" in f"humaneval/{p}" for p in range(164))  # the probe filters on "/1"
    assert res["sorted_desc"] is True and res["shown_text"] == f"{with_1} of 164 problems shown"
    assert res["expected_got"]
    print(f"164x6x8 report: {html.stat().st_size / 2**20:.1f} MiB, built in {built:.1f} s; Chromium: load event "
          f"at {res['load_ms']:.0f} ms, a drill-down opens in {res['open_ms']:.0f} ms, whole run {wall:.1f} s")

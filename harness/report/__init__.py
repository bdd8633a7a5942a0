"""`nfbench report`: tables, figures and a self-contained HTML page from finished run stores.

Reads only JSON files (harness/store.py format) and never imports torch, so reports can be built
anywhere the results are copied to.
"""
from __future__ import annotations

from pathlib import Path

from nfbench.harness.report import compare as comparison, paired
from nfbench.harness.report.compare import baseline_from_rows, load_baseline, write_baseline
from nfbench.harness.report.load import load_runs


def build_report(run_dirs: list[str], out: Path, compare: Path | None = None, *,
                 echo: bool = True) -> Path:
    """Write results.{md,csv,tex}, paired.csv, figures (PNG + SVG), baseline.json and report.html under out.

    Prints the Markdown tables (and, with a baseline, every finding); returns the HTML path.
    """
    from nfbench.harness.report import html, plots, tables  # matplotlib only when a report is built

    out = Path(out)
    baseline = load_baseline(compare) if compare else None  # before anything is (over)written
    runs = load_runs(run_dirs)
    out.mkdir(parents=True, exist_ok=True)
    rows = tables.rows(runs)
    pairs = paired.pair_rows(runs)
    md = tables.write_tables(rows, out, pairs)
    figures = plots.make_plots(runs, rows, out)
    scores = {comparison.key_of(row): paired.scores(run) for row, run in zip(rows, runs)}
    write_baseline(baseline_from_rows(rows, note=f"written by nfbench report from {len(runs)} run(s)",
                                      scores=scores), out / "baseline.json")
    findings = comparison.compare(rows, baseline, rule="ci", scores=scores) if baseline else None
    page = html.write_html(runs, rows, figures, out, findings, compare, pairs)
    if echo:
        print(md)
        for f in findings or []:
            if f.status != "ok":
                print(f.describe())
    return page

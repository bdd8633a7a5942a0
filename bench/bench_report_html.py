"""How the HTML report's per-problem matrix and drill-down scale: a HumanEval-sized report
(164 problems x 6 methods x 8 samples, tests/report_runs.py's realistic fake runs) in headless Chromium.

Baseline, measured in the same run: the same report with its Problems section (matrix, drill-down
data) cut out, i.e. the page as it was before the drill-down. Floor: Chromium loading an empty page.
Times are the page's own navigation timing (load event), the median of --repeats fresh Chromium runs;
the drill-down times are one click each (the first click also parses the embedded JSON).

    flock /tmp/nfbench-heavy.lock .venv/bin/python bench/bench_report_html.py
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from report_browser import CHROMIUM, probe  # noqa: E402
from report_runs import write_large  # noqa: E402

from nfbench.harness.report import build_report  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", type=int, default=164)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    if CHROMIUM is None:
        sys.exit("chromium is not installed (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        write_large(work / "runs", args.problems, args.samples)
        start = time.perf_counter()
        page = build_report([str(work / "runs")], work / "out", echo=False)
        built = time.perf_counter() - start
        text = page.read_text(encoding="utf-8")
        cut = text[:text.index('<h2 id="problems">')] + text[text.index("<h2>Runs</h2>"):]
        tables = work / "tables_only.html"
        tables.write_text(cut, encoding="utf-8")
        blank = work / "blank.html"
        blank.write_text("<!DOCTYPE html><html><body></body></html>", encoding="utf-8")

        def measure(path: Path) -> dict[str, float]:
            runs = [probe(path, work)[0] for _ in range(args.repeats)]
            keys = ("load_ms", "open_ms", "reopen_ms")
            return {k: statistics.median(r[k] for r in runs) for k in keys if k in runs[0]}

        full, base, floor = measure(page), measure(tables), measure(blank)
    size, base_size = len(text.encode()), len(cut.encode())
    print(f"{args.problems} problems x 6 methods x {args.samples} samples; report built in {built:.1f} s")
    print(f"size: {size / 2**20:.2f} MiB (tables-only page {base_size / 2**20:.2f} MiB: "
          f"{size / base_size:.1f}x; drill-down data {(size - base_size) / (6 * args.problems * args.samples):.0f} "
          "bytes per sample)")
    print(f"load event: report {full['load_ms']:.0f} ms, tables-only {base['load_ms']:.0f} ms "
          f"({full['load_ms'] / base['load_ms']:.2f}x), empty page (floor) {floor['load_ms']:.0f} ms "
          f"({full['load_ms'] / max(floor['load_ms'], 1):.1f}x the floor)")
    print(f"drill-down: first open {full['open_ms']:.0f} ms (parses the data), next {full['reopen_ms']:.0f} ms")


if __name__ == "__main__":
    main()

"""The HTML report opened in a real headless Chromium: tables and decoded figures are there."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from nfbench.harness.report import build_report
from report_runs import write_suite

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]
# Appended to a copy of the page: counts, once loaded, the images Chromium actually decoded.
PROBE = ("<script>window.addEventListener('load', () => document.body.setAttribute('data-decoded', "
         "[...document.images].filter(i => i.complete && i.naturalWidth > 100).length));</script>")


def chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=90)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_report_renders_in_headless_chromium(tmp_path):
    write_suite(tmp_path / "runs")
    html = build_report([str(tmp_path / "runs")], tmp_path / "out", echo=False)
    probe = html.with_name("probe.html")
    probe.write_text(html.read_text().replace("</body>", PROBE + "</body>"))

    dom = chromium(["--virtual-time-budget=10000", "--dump-dom", probe.as_uri()], tmp_path / "profile")
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    assert page.count("<table") == 3  # quality, cost, runs
    assert "pass@1 base % [95% CI]" in page and "reasoning positions mean (x cot)" in page
    assert len(re.findall(r"<tr class=\"\">\s*<td>nfcot</td>", page)) == 4  # 2 tasks x 2 tables
    assert len(re.findall(r'<img alt="(pareto|pass_at_k|cost_distributions)" src="data:image/png;base64,', page)) == 3
    assert 'data-decoded="3"' in page, "Chromium did not decode all three figures"

    shot = tmp_path / "page.png"
    done = chromium([f"--screenshot={shot}", "--window-size=1400,2400", html.as_uri()], tmp_path / "profile2")
    assert done.returncode == 0 and shot.stat().st_size > 50_000, done.stderr[-2000:]

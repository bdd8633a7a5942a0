"""Open an HTML report in a real headless Chromium (for the report tests and bench/bench_report_html.py).

No Playwright: a probe script is appended to a copy of the page; on `load` it records the page's own
timings, then drives the page as a user would (element.click(), typing into the filter) and writes
what it saw into an attribute of <body>, which `--dump-dom` returns.
"""
from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]

PROBE = """<script>
window.addEventListener("load", () => {
  const res = {};
  const nav = performance.getEntriesByType("navigation")[0];
  res.dom_content_loaded_ms = nav.domContentLoadedEventEnd;
  res.load_ms = nav.loadEventStart;
  res.decoded_images = [...document.images].filter((i) => i.complete && i.naturalWidth > 100).length;
  const sections = [...document.querySelectorAll("section.problems")];
  res.matrices = sections.map((s) => s.querySelectorAll("table.matrix tbody tr").length);
  res.paired_rows = document.querySelectorAll("table.paired tbody tr").length;
  const sec = sections[0];
  if (sec) {
    const body = () => [...sec.querySelectorAll("table.matrix tbody tr")];
    sec.querySelectorAll("table.matrix th")[1].click();  // first method, highest solved fraction first
    const vals = body().map((r) => Number(r.cells[1].dataset.v));
    res.sorted_desc = vals.length > 1 && vals.every((v, i) => i === 0 || vals[i - 1] >= v) && vals[0] > vals[vals.length - 1];
    sec.querySelectorAll("table.matrix th")[0].click();  // back to problem order
    res.first_ids = body().slice(0, 3).map((r) => r.dataset.problem);
    const filter = sec.querySelector(".filter");
    filter.value = "/1"; filter.dispatchEvent(new Event("input"));
    res.filtered = body().filter((r) => !r.hidden).map((r) => r.dataset.problem);
    res.shown_text = sec.querySelector(".shown").textContent;
    filter.value = ""; filter.dispatchEvent(new Event("input"));
    const t = performance.now();
    sec.querySelector("a[data-open]").click();
    res.open_ms = performance.now() - t;  // the first open also parses the JSON block
    const links = sec.querySelectorAll("a[data-open]");
    const t2 = performance.now();
    links[links.length - 1].click();
    res.reopen_ms = performance.now() - t2;
    links[0].click();
    const drill = sec.querySelector(".drill");
    res.opened = drill.dataset.problem || null;
    res.method_sections = drill.querySelectorAll("section.method").length;
    res.samples = drill.querySelectorAll("details.sample").length;
    res.open_labels = [...drill.querySelectorAll("details.sample[open] > summary .badge")].map((b) => b.textContent);
    res.drill_text = drill.textContent.slice(0, 20000);
    res.page_height = document.documentElement.scrollHeight;
  }
  // every group: open each problem until one shows a failing test's expected vs got
  res.expected_got = [];
  sections.forEach((s) => {
    for (const a of s.querySelectorAll("a[data-open]")) {
      a.click();
      const box = s.querySelector(".drill .expected-got");
      if (box) { res.expected_got.push(box.textContent); break; }
    }
  });
  document.body.setAttribute("data-probe", JSON.stringify(res));
});
</script>"""


def chromium(args: list[str], profile: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """One headless Chromium run with a fresh profile directory."""
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=timeout)


def probe(page: Path, work: Path, *, virtual_time: bool = False) -> tuple[dict[str, Any], str, float]:
    """(what the probe recorded, the dumped DOM, wall seconds of the Chromium run) for a report page.

    virtual_time: let Chromium fast-forward timers (robust under load) - the page's timings are then
    virtual too, so measurements run without it."""
    copy = page.with_name(page.stem + ".probe.html")
    copy.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    args = (["--virtual-time-budget=20000"] if virtual_time else []) + ["--dump-dom", copy.as_uri()]
    start = time.perf_counter()
    done = chromium(args, work / f"profile-{time.monotonic_ns()}")
    wall = time.perf_counter() - start
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<body[^>]*data-probe="([^"]*)"', done.stdout)
    assert found, "the probe did not run: " + done.stderr[-2000:]
    return json.loads(html.unescape(found.group(1))), done.stdout, wall


OPEN_FIRST = """<script>window.addEventListener("load", () => {
  const a = document.querySelector("section.problems a[data-open]"); if (a) a.click(); });</script>"""


def screenshot(page: Path, shot: Path, work: Path, height: int, width: int = 1400) -> Path:
    """The whole page (headless screenshots show only the top of a window, and a scrolled window comes
    out blank, so the window is as tall as the page) with the first problem's drill-down open."""
    copy = page.with_name(page.stem + ".shot.html")
    copy.write_text(page.read_text(encoding="utf-8").replace("</body>", OPEN_FIRST + "</body>"), encoding="utf-8")
    done = chromium([f"--screenshot={shot}", f"--window-size={width},{height}", "--virtual-time-budget=10000",
                     copy.as_uri()], work / f"profile-{time.monotonic_ns()}")
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    return shot

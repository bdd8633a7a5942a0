"""One self-contained HTML file: inline CSS, tables, figures as base64 PNG data URIs (no network,
no files next to it needed), so it opens from the file system or as a CI artifact."""
from __future__ import annotations

import base64
import html
import time
from pathlib import Path
from typing import Any

from nfbench.harness.report.compare import FAILING, Finding, key_of
from nfbench.harness.report.load import Run
from nfbench.harness.report.tables import TABLES, Column, cells

CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1400px; color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.25em; margin-top: 1.8em; }
.meta { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.88em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; white-space: nowrap; }
th { background: #f0f3f7; } tr:nth-child(even) td { background: #fafafa; }
tr.regression td { background: #fde2e2; } tr.improvement td { background: #e3f6e3; }
td.status-regression, td.status-changed, td.status-missing { color: #b00020; font-weight: 600; }
td.status-improvement { color: #1b7a1b; font-weight: 600; }
figure { margin: 1em 0 2em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #555; font-size: 0.9em; }
.scroll { overflow-x: auto; }
"""

FIGURES = {"pareto": "pass@1 against mean reasoning cost; the dashed line is the Pareto front.",
           "pass_at_k": "pass@k curves with bootstrap 95% confidence bands.",
           "cost_distributions": "Distribution of per-sample costs for every method."}


def esc(value: Any) -> str:
    return html.escape(str(value))


def table_html(columns: list[Column], data: list[dict[str, Any]], marks: dict[str, str]) -> str:
    head = "".join(f"<th>{esc(c.header)}</th>" for c in columns)
    body = []
    for row, texts in zip(data, cells(columns, data)):
        mark = marks.get(key_of(row), "")
        tds = "".join(f"<td>{esc(t)}</td>" for t in texts)
        body.append(f'<tr class="{mark}">{tds}</tr>')
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def findings_html(findings: list[Finding], baseline_path: Path) -> str:
    bad = sum(f.status in FAILING for f in findings)
    rows = "".join(
        f"<tr><td>{esc(f.key)}</td><td>{esc(f.metric)}</td><td>{esc(f.describe().split(': ', 1)[1])}</td>"
        f'<td class="status-{f.status}">{esc(f.status)}</td></tr>' for f in findings)
    return (f"<h2>Comparison with {esc(baseline_path)}</h2><p>{bad} regression(s) beyond the baseline's "
            "95% CI (pass@1) or tolerance (reasoning positions).</p>"
            f"<table><thead><tr><th>run</th><th>metric</th><th>values</th><th>status</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def runs_html(runs: list[Run]) -> str:
    rows = []
    for r in runs:
        git = r.manifest.get("git") or {}
        commit = (git.get("commit") or "?")[:10] + (" (dirty)" if git.get("dirty") else "")
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted((r.summary.get("status_counts") or {}).items()))
        rows.append(f"<tr><td>{esc(r.run_id)}</td><td>{esc(f'{r.method}/{r.task}/{r.backbone}')}</td><td>{esc(r.created)}</td>"
                    f"<td>{esc(commit)}</td><td>{esc(r.summary.get('temperature'))}</td>"
                    f"<td>{esc(statuses)}</td><td>{esc(r.path)}</td></tr>")
    return ("<h2>Runs</h2><div class=\"scroll\"><table><thead><tr><th>run id</th><th>method/task/backbone</th>"
            "<th>created</th><th>git</th><th>temperature</th><th>verdicts</th><th>path</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def figure_html(png: Path) -> str:
    data = base64.b64encode(png.read_bytes()).decode("ascii")
    caption = FIGURES.get(png.stem, png.stem)
    return (f'<figure><img alt="{esc(png.stem)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{esc(caption)} (SVG: {esc(png.with_suffix('.svg').name)})</figcaption></figure>")


def write_html(runs: list[Run], rows: list[dict[str, Any]], figures: list[Path], out: Path,
               findings: list[Finding] | None = None, baseline_path: Path | None = None) -> Path:
    marks: dict[str, str] = {}
    for f in findings or []:
        if f.status in FAILING:
            marks[f.key] = "regression"
        elif f.status == "improvement":
            marks.setdefault(f.key, "improvement")
    parts = [f"<h1>nfbench report</h1><p class=\"meta\">{len(runs)} run(s); generated "
             f"{esc(time.strftime('%Y-%m-%d %H:%M:%S %Z'))}. Confidence intervals: 95% bootstrap over problems. "
             "Ratios in parentheses are relative to the <code>cot</code> run on the same task and backbone.</p>"]
    if findings is not None and baseline_path is not None:
        parts.append(findings_html(findings, baseline_path))
    for title, columns in TABLES.items():
        parts.append(f"<h2>{esc(title)}</h2>" + table_html(columns, rows, marks))
    parts.append("<h2>Figures</h2>" + "".join(figure_html(p) for p in figures if p.suffix == ".png"))
    parts.append(runs_html(runs))
    page = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>nfbench report</title>"
            f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>\n")
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path

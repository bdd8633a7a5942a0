"""One self-contained HTML file: inline CSS and JavaScript (assets/), tables, figures as base64 PNG
data URIs, the per-problem matrix and its drill-down data (drill.py); no network and no files next
to it needed, so it opens from the file system or as a CI artifact."""
from __future__ import annotations

import base64
import html
import time
from pathlib import Path
from typing import Any, Callable

from nfbench.harness.report import paired
from nfbench.harness.report.compare import FAILING, Finding, key_of
from nfbench.harness.report.diversity import NGRAM
from nfbench.harness.report.drill import problems_html
from nfbench.harness.report.load import Run
from nfbench.harness.report.sweep_plot import notes_html
from nfbench.harness.report.thoughts import thoughts_html
from nfbench.harness.report.tables import PAIRED, PAIRED_TITLE, TABLES, Column, cells

ASSETS = Path(__file__).with_name("assets")

FIGURES = {"pareto": "pass@1 against mean reasoning cost; the dashed line is the Pareto front.",
           "pass_at_k": "pass@k curves with bootstrap 95% confidence bands.",
           "cost_distributions": "Distribution of per-sample costs for every method.",
           "budget_sweep": "Thinking-budget sweep (nfbench sweep): pass@1 with 95% CIs against mean reasoning "
                           "positions and FLOPs, one line per method through its budget points."}


def esc(value: Any) -> str:
    return html.escape(str(value))


def table_html(columns: list[Column], data: list[dict[str, Any]], row_class: Callable[[dict[str, Any]], str],
               table_class: str = "") -> str:
    head = "".join(f"<th>{esc(c.header)}</th>" for c in columns)
    body = []
    for row, texts in zip(data, cells(columns, data)):
        tds = "".join(f"<td>{esc(t)}</td>" for t in texts)
        body.append(f'<tr class="{row_class(row)}">{tds}</tr>')
    cls = f' class="{table_class}"' if table_class else ""
    return f'<div class="scroll"><table{cls}><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


DIVERSITY_NOTE = (f"AST {NGRAM}-gram similarity: mean pairwise Jaccard similarity of the sets of {NGRAM}-grams of "
                  "AST node types (depth-first, names and literals left out) over a problem's samples, averaged "
                  "over problems; lower is more diverse. Distinct passing / problem: different programs (up to "
                  "formatting and comments, by AST dump) among a problem's passing samples, averaged over problems.")
PAIRED_NOTE = (f"A against B on the problems both were run on (each problem's pass fraction; pass@1 is its mean). "
               f"CI: paired bootstrap over problems, {paired.N_BOOT} resamples, seed {paired.SEED}, percentile 95%. "
               "Wins / ties / losses: problems where A's pass fraction is higher / equal / lower. McNemar's test "
               f"on the wins and losses (exact binomial up to {paired.EXACT_MAX} discordant problems, else "
               "chi-square with continuity correction); with one sample per problem this is McNemar's test on "
               "pass/fail pairs, with more it is the sign test on the per-problem pass fractions. Holm: adjusted "
               "over the pairs of one task, backbone and test set. Bold: Holm p < 0.05.")


def paired_html(pairs: list[dict[str, Any]]) -> str:
    if not pairs:
        return ""
    significant = lambda r: "significant" if r["p_holm"] < paired.ALPHA else ""
    return (f'<h2 id="paired">{esc(PAIRED_TITLE)}</h2><p class="meta">{esc(PAIRED_NOTE)}</p>'
            + table_html(PAIRED, pairs, significant, "paired"))


def findings_html(findings: list[Finding], baseline_path: Path) -> str:
    bad = sum(f.status in FAILING for f in findings)
    rows = "".join(
        f"<tr><td>{esc(f.key)}</td><td>{esc(f.metric)}</td><td>{esc(f.describe().split(': ', 1)[1])}</td>"
        f'<td class="status-{f.status}">{esc(f.status)}</td></tr>' for f in findings)
    return (f"<h2>Comparison with {esc(baseline_path)}</h2><p>{bad} regression(s). pass@1: McNemar's test "
            "(p &lt; 0.05) on the same problems where the baseline records them per problem (paired), else "
            "outside the baseline's 95% CI; reasoning positions: outside the tolerance.</p>"
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
               findings: list[Finding] | None = None, baseline_path: Path | None = None,
               pairs: list[dict[str, Any]] | None = None) -> Path:
    marks: dict[str, str] = {}
    for f in findings or []:
        if f.status in FAILING:
            marks[f.key] = "regression"
        elif f.status == "improvement":
            marks.setdefault(f.key, "improvement")
    parts = [f"<h1>nfbench report</h1><p class=\"meta\">{len(runs)} run(s); generated "
             f"{esc(time.strftime('%Y-%m-%d %H:%M:%S %Z'))}. Confidence intervals: 95% bootstrap over problems. "
             "Ratios in parentheses are relative to the <code>cot</code> run on the same task and backbone. "
             + ('<a href="#paired">Paired comparisons</a> · ' if pairs else "") + '<a href="#problems">Problems</a></p>']
    if findings is not None and baseline_path is not None:
        parts.append(findings_html(findings, baseline_path))
    for title, columns in TABLES.items():
        parts.append(f"<h2>{esc(title)}</h2>" + table_html(columns, rows, lambda r: marks.get(key_of(r), "")))
    parts.append(f'<p class="meta">{esc(DIVERSITY_NOTE)}</p>')
    parts.append(paired_html(pairs or []))
    parts.append("<h2>Figures</h2>" + "".join(figure_html(p) for p in figures if p.suffix == ".png") + notes_html(runs))
    parts.append(problems_html(runs))
    parts.append(thoughts_html(runs))
    parts.append(runs_html(runs))
    css, js = (ASSETS / "report.css").read_text(encoding="utf-8"), (ASSETS / "report.js").read_text(encoding="utf-8")
    page = ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>nfbench report</title>"
            f"<style>{css}</style></head><body>{''.join(parts)}<script>{js}</script></body></html>\n")
    path = out / "report.html"
    tmp = path.with_name(path.name + ".tmp")  # a crash never leaves half a page
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path

"""One row per method x task x backbone: pass@k with CIs, cost aggregates, ratios to `cot`.

`rows()` gives full-precision records (CSV, baselines); `QUALITY` / `COST` say how the two
printed tables (Markdown, LaTeX, HTML) show them.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from nfbench.harness.metrics import aggregate
from nfbench.harness.report.diversity import NGRAM, diversity
from nfbench.harness.report.load import Run

REFERENCE_METHOD = "cot"  # every cost is also shown as a ratio to this method's run
AGGREGATED = ("reasoning_positions", "answer_tokens", "forward_passes", "flops", "reasoning_seconds",
              "answer_seconds", "kv_cache_bytes")
RATIOS = ("reasoning_positions_mean", "forward_passes_mean", "flops_mean", "seconds_mean",
          "peak_memory_bytes_max")


def _pass(summary: dict[str, Any], part: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None, int | None]:
    """(pass@1, pass@k at the largest k, that k) of one part ("base" / "plus")."""
    table = (summary.get("pass_at_k") or {}).get(part) or {}
    if not table:
        return None, None, None
    k = max(int(x) for x in table)
    return table.get("1"), (table[str(k)] if k > 1 else None), (k if k > 1 else None)


def run_row(run: Run) -> dict[str, Any]:
    s = run.summary
    row: dict[str, Any] = {"method": run.method, "task": run.task, "backbone": run.backbone,
                           "split": s.get("split"), "run_id": run.run_id,
                           "n_problems": s.get("n_problems"),
                           "n_samples_per_problem": s.get("n_samples_per_problem"),
                           "temperature": s.get("temperature")}
    for part in ("base", "plus"):
        p1, pk, k = _pass(s, part)
        for name, entry in ((f"pass1_{part}", p1), (f"passk_{part}", pk)):
            row[name] = entry["value"] if entry else None
            row[f"{name}_lo"], row[f"{name}_hi"] = entry["ci"] if entry else (None, None)
        row[f"k_{part}"] = k
    for name in AGGREGATED:
        agg = aggregate(run.costs(name))
        for stat in ("mean", "median", "p90"):
            row[f"{name}_{stat}"] = agg[stat]
    row["seconds_mean"] = row["reasoning_seconds_mean"] + row["answer_seconds_mean"]
    row["peak_memory_bytes_max"] = max(run.costs("peak_memory_bytes"), default=0.0)
    row.update(diversity(run))
    return row


def rows(runs: list[Run]) -> list[dict[str, Any]]:
    """Rows with each cost's ratio to the `cot` run of the same task and backbone (None without one)."""
    out = [run_row(r) for r in runs]
    reference = {(r["task"], r["backbone"]): r for r in out if r["method"] == REFERENCE_METHOD}
    for r in out:
        ref = reference.get((r["task"], r["backbone"]))
        for name in RATIOS:
            denom = ref[name] if ref else 0
            r[f"{name}_vs_cot"] = r[name] / denom if denom else None
    return out


# --- display --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    header: str
    cell: Callable[[dict[str, Any]], str]


def pct_ci(name: str) -> Callable[[dict[str, Any]], str]:
    def cell(r: dict[str, Any]) -> str:
        if r.get(name) is None:
            return "-"
        return f"{100 * r[name]:.1f} [{100 * r[name + '_lo']:.1f}, {100 * r[name + '_hi']:.1f}]"
    return cell


def passk(part: str) -> Callable[[dict[str, Any]], str]:
    def cell(r: dict[str, Any]) -> str:
        return "-" if r.get(f"k_{part}") is None else f"k={r[f'k_{part}']}: {pct_ci(f'passk_{part}')(r)}"
    return cell


def si(value: float | None, unit: str = "") -> str:
    """Engineering notation: 1.2e9 -> '1.2G'."""
    if value is None:
        return "-"
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{prefix}{unit}"
    return f"{value:.3g}{unit}"


def num(name: str, fmt: str = "{:.1f}") -> Callable[[dict[str, Any]], str]:
    return lambda r: "-" if r.get(name) is None else fmt.format(r[name])


def with_ratio(name: str, show: Callable[[float], str]) -> Callable[[dict[str, Any]], str]:
    def cell(r: dict[str, Any]) -> str:
        ratio = r.get(f"{name}_vs_cot")
        return show(r[name]) + ("" if ratio is None else f" ({ratio:.2f}x)")
    return cell


KEY = [Column("method", lambda r: r["method"]), Column("task", lambda r: r["task"]),
       Column("backbone", lambda r: r["backbone"])]
QUALITY = KEY + [
    Column("problems x samples", lambda r: f"{r['n_problems']} x {r['n_samples_per_problem']}"),
    Column("pass@1 base % [95% CI]", pct_ci("pass1_base")),
    Column("pass@k base %", passk("base")),
    Column("pass@1 plus % [95% CI]", pct_ci("pass1_plus")),
    Column("pass@k plus %", passk("plus")),
    Column(f"AST {NGRAM}-gram similarity", num("ast_similarity", "{:.2f}")),
    Column("distinct passing / problem", num("distinct_passing_mean", "{:.2f}")),
]
COST = KEY + [
    Column("reasoning positions mean (x cot)", with_ratio("reasoning_positions_mean", "{:.1f}".format)),
    Column("median", num("reasoning_positions_median")),
    Column("p90", num("reasoning_positions_p90")),
    Column("forward passes (x cot)", with_ratio("forward_passes_mean", "{:.1f}".format)),
    Column("FLOPs (x cot)", with_ratio("flops_mean", si)),
    Column("reasoning s", num("reasoning_seconds_mean", "{:.3f}")),
    Column("answer s", num("answer_seconds_mean", "{:.3f}")),
    Column("total s (x cot)", with_ratio("seconds_mean", "{:.3f}".format)),
    Column("peak memory (x cot)", with_ratio("peak_memory_bytes_max", lambda b: si(b, "B"))),
]
TABLES = {"Quality (pass@k, %)": QUALITY, "Cost per sample (means unless stated)": COST}


def pts_ci(r: dict[str, Any]) -> str:
    return f"{100 * r['diff']:+.1f} [{100 * r['diff_lo']:+.1f}, {100 * r['diff_hi']:+.1f}]"


PAIRED = [  # rows of paired.pair_rows: A against B on the problems both were run on
    Column("task", lambda r: r["task"]), Column("backbone", lambda r: r["backbone"]),
    Column("tests", lambda r: r["part"]), Column("A", lambda r: r["method_a"]), Column("B", lambda r: r["method_b"]),
    Column("paired problems", lambda r: str(r["n_problems"])),
    Column("pass@1 A %", lambda r: f"{100 * r['pass1_a']:.1f}"),
    Column("pass@1 B %", lambda r: f"{100 * r['pass1_b']:.1f}"),
    Column("A - B pts [95% paired bootstrap CI]", pts_ci),
    Column("A wins / ties / losses", lambda r: f"{r['wins']} / {r['ties']} / {r['losses']}"),
    Column("McNemar p", lambda r: f"{r['p_value']:.3g} ({r['test']})"),
    Column("Holm p", num("p_holm", "{:.3g}")),
]
PAIRED_TITLE = "Paired comparisons (same problems)"


def cells(table: list[Column], data: list[dict[str, Any]]) -> list[list[str]]:
    return [[c.cell(r) for c in table] for r in data]


def markdown(table: list[Column], data: list[dict[str, Any]]) -> str:
    body = cells(table, data)
    widths = [max(len(c.header), *(len(row[i]) for row in body)) for i, c in enumerate(table)]
    line = lambda items: "| " + " | ".join(s.ljust(w) for s, w in zip(items, widths)) + " |"
    return "\n".join([line([c.header for c in table]), line(["-" * w for w in widths]),
                      *map(line, body)])


LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#",
                 "$": r"\$", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}"}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in text)


def latex(table: list[Column], data: list[dict[str, Any]], caption: str) -> str:
    header = " & ".join(latex_escape(c.header) for c in table) + r" \\"
    body = [" & ".join(latex_escape(s) for s in row) + r" \\" for row in cells(table, data)]
    return "\n".join([r"\begin{table}[t]", r"\centering\small", f"\\caption{{{latex_escape(caption)}}}",
                      r"\begin{tabular}{" + "l" * len(table) + "}", r"\toprule", header, r"\midrule",
                      *body, r"\bottomrule", r"\end{tabular}", r"\end{table}", ""])


def write_csv(data: list[dict[str, Any]], path: Path) -> None:
    fields = list(dict.fromkeys(k for r in data for k in r))
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(data)


def write_tables(data: list[dict[str, Any]], out: Path, pairs: list[dict[str, Any]] | None = None) -> str:
    """results.csv, paired.csv, results.tex and results.md under out; returns the Markdown."""
    write_csv(data, out / "results.csv")
    shown = [(title, t, data) for title, t in TABLES.items()]
    if pairs:
        write_csv(pairs, out / "paired.csv")
        shown.append((PAIRED_TITLE, PAIRED, pairs))
    md = "\n\n".join(f"## {title}\n\n{markdown(t, body)}" for title, t, body in shown)
    (out / "results.md").write_text(md + "\n", encoding="utf-8")
    (out / "results.tex").write_text("\n".join(latex(t, body, title) for title, t, body in shown),
                                     encoding="utf-8")
    return md

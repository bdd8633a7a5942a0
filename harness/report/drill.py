"""The per-problem part of the HTML report: a problems x methods matrix (server-rendered, so it shows
without JavaScript) and the samples behind it as one JSON block that assets/report.js renders into a
drill-down only when a problem is opened, so a 164 x 6 x 8 report loads like a small one.

What a drill-down shows of each sample, and the record fields it reads:
- generations.jsonl: `prompt`, `reasoning` (reasoning text or the method's latent summary),
  `solution` (the program that was run), `cost` (every field), `extra` (each value, as JSON if long), and
  `raw_output` for samples that did not pass (what the model wrote, before extraction);
- executions.jsonl: the whole verdict record, whatever its fields. `base_status`, `plus_status`,
  `base_fail_test`, `plus_fail_test` (index of the first failing test), `seconds` and `detail` are laid
  out as such; the first failing test's `input`, `expected` and `got`, bare or prefixed `base_` /
  `plus_`, are shown side by side where a verdict records them; any other field is listed as it is.

The drill-down holds the first MAX_SAMPLES samples of each problem x method (saying so when there are
more; a pass@100 study would otherwise make a 100 MB page), long texts are cut at MAX_TEXT characters
(saying how much was cut), and every string is stored once (the 8 samples of one prompt share it).
"""
from __future__ import annotations

import html
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from nfbench.harness.report.load import Run, by_task

MAX_SAMPLES = 16  # samples of one problem x method in the drill-down (the matrix counts all of them)
MAX_TEXT = 20_000  # characters of one prompt / reasoning / program / raw output
MAX_FIELD = 2_000  # characters of one verdict field
MAX_EXTRA = 300  # characters of one `extra` value, as JSON
SAMPLE_KEYS = {"task_id", "sample_idx"}


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}\n... ({len(text) - limit} more characters cut)"


class Strings:
    """Interns long strings: the payload refers to them by index."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.table: list[str] = []

    def __call__(self, text: str | None) -> int | None:
        if text is None:
            return None
        text = cut(str(text), MAX_TEXT)
        if text not in self.index:
            self.index[text] = len(self.table)
            self.table.append(text)
        return self.index[text]


def short(value: Any, limit: int) -> Any:
    if isinstance(value, str):
        return cut(value, limit)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    text = json.dumps(value, default=str)
    return value if len(text) <= limit else cut(text, limit)


def sample_record(gen: dict[str, Any] | None, verdict: dict[str, Any] | None, strings: Strings,
                  cost_fields: list[str]) -> dict[str, Any]:
    """One sample; its cost as a list in `cost_fields` order and its verdict without empty fields
    (a missing plus_status means no plus tests), which halves a large report."""
    gen, verdict = gen or {}, verdict or {}
    passed = verdict.get("base_status") == "pass" and verdict.get("plus_status") in (None, "pass")
    cost = gen.get("cost") or {}
    rec: dict[str, Any] = {
        "i": gen.get("sample_idx", verdict.get("sample_idx")),
        "prompt": strings(gen.get("prompt")), "reasoning": strings(gen.get("reasoning")),
        "solution": strings(gen.get("solution")),
        "cost": [cost.get(f) for f in cost_fields],
        "verdict": {k: short(v, MAX_FIELD) for k, v in verdict.items()
                    if k not in SAMPLE_KEYS and v is not None and v != ""},
    }
    if gen.get("extra"):
        rec["extra"] = {k: short(v, MAX_EXTRA) for k, v in gen["extra"].items()}
    if not passed and gen.get("raw_output"):
        rec["raw"] = strings(gen["raw_output"])
    return rec


def by_problem(run: Run) -> dict[str, list[tuple[dict | None, dict | None]]]:
    """(generation, verdict) pairs of each problem, in sample order."""
    pairs: dict[str, dict[int, list]] = defaultdict(dict)
    for g in run.generations:
        pairs[g["task_id"]].setdefault(g["sample_idx"], [None, None])[0] = g
    for v in run.verdicts:
        pairs[v["task_id"]].setdefault(v["sample_idx"], [None, None])[1] = v
    return {tid: [tuple(p) for _, p in sorted(samples.items())] for tid, samples in pairs.items()}


def problem_key(task_id: str) -> tuple:
    """Natural order: HumanEval/2 before HumanEval/10."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in task_id.replace("/", " / ").split())


@dataclass
class Group:
    """The runs of one task x backbone, their samples by problem, and the problems in natural order."""

    task: str
    backbone: str
    runs: list[Run]
    samples: list[dict[str, list[tuple[dict | None, dict | None]]]]
    problems: list[str]


def groups_of(runs: list[Run]) -> list[Group]:
    out = []
    for (task, backbone), rs in by_task(runs).items():
        samples = [by_problem(r) for r in rs]
        out.append(Group(task, backbone, rs, samples, sorted({t for p in samples for t in p}, key=problem_key)))
    return out


def solved(samples: list[tuple[dict | None, dict | None]]) -> tuple[int, int]:
    """(passing samples, samples with a verdict); a sample passes plus only if it passes base."""
    verdicts = [v for _, v in samples if v is not None]
    ok = sum(v.get("base_status") == "pass" and v.get("plus_status") in (None, "pass") for v in verdicts)
    return ok, len(verdicts)


def payload(groups: list[Group]) -> dict[str, Any]:
    strings = Strings()
    fields = list(dict.fromkeys(f for g in groups for r in g.runs for gen in r.generations for f in gen.get("cost") or {}))
    def cell(samples: list[tuple[dict | None, dict | None]]) -> dict[str, Any]:
        ok, n = solved(samples)
        return {"ok": ok, "n": n, "samples": [sample_record(gen, v, strings, fields)
                                              for gen, v in samples[:MAX_SAMPLES]]}

    return {"groups": [{"task": g.task, "backbone": g.backbone,
                        "runs": [{"method": r.method, "run_id": r.run_id} for r in g.runs],
                        "problems": {tid: [cell(p.get(tid, [])) for p in g.samples] for tid in g.problems}}
                       for g in groups],
            "cost_fields": fields, "strings": strings.table}


def script_json(data: Any) -> str:
    """JSON safe inside <script>: '<' only occurs inside JSON strings, where \\u003c means the same."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def cell(ok: int, n: int) -> str:
    if n == 0:
        return '<td class="na" data-v="-1">-</td>'
    f = ok / n
    return f'<td data-v="{f:.4f}" style="background:hsl({120 * f:.0f},65%,{88 - 10 * f:.0f}%)">{ok}/{n}</td>'


def matrix_html(gid: int, g: Group) -> str:
    esc = html.escape
    head = "".join(f'<th data-col="{i + 1}" title="{esc(r.run_id)}">{esc(r.method)}</th>' for i, r in enumerate(g.runs))
    body = []
    for tid in g.problems:
        counts = [solved(p.get(tid, [])) for p in g.samples]
        fracs = [ok / n for ok, n in counts if n]
        mean = sum(fracs) / len(fracs) if fracs else -1
        body.append(f'<tr data-problem="{esc(tid)}"><td><a href="#p={gid}:{esc(tid)}" data-open="{gid}">{esc(tid)}</a>'
                    f'</td>{"".join(cell(*c) for c in counts)}<td data-v="{mean:.4f}">{max(mean, 0):.2f}</td></tr>')
    return (f'<section class="problems" data-group="{gid}"><h3>{esc(g.task)} / {esc(g.backbone)}: '
            f'{len(g.problems)} problems x {len(g.runs)} methods</h3>'
            '<div class="controls"><input type="search" class="filter" placeholder="filter problem ids">'
            '<select class="mode"><option value="all">all problems</option>'
            '<option value="differ">methods differ</option><option value="unsolved">solved by none</option>'
            '<option value="solved">solved by every sample of every method</option></select>'
            '<span class="shown"></span></div>'
            f'<div class="matrix-box"><table class="matrix"><thead><tr><th data-col="0" data-dir="asc">problem</th>{head}'
            f'<th data-col="{len(g.runs) + 1}">mean</th></tr></thead><tbody>{"".join(body)}</tbody></table></div>'
            f'<div class="drill" id="drill-{gid}"><p class="hint">Click a problem to see its samples.</p></div></section>')


def problems_html(runs: list[Run]) -> str:
    """The matrices, the drill-down panels and the data they are rendered from."""
    groups = groups_of(runs)
    sections = "".join(matrix_html(gid, g) for gid, g in enumerate(groups))
    return ('<h2 id="problems">Problems</h2><p class="meta">Each cell: samples that passed (base, and plus '
            "where the task has plus tests) / samples run. Click a column header to sort, a problem to open "
            "its samples: reasoning (text, or the latent summary the method records), program, verdict with "
            "the first failing test, and cost.</p>" + sections +
            f'<script type="application/json" id="nfbench-data">{script_json(payload(groups))}</script>')

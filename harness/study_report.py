"""The study's tables and claims: runs grouped by (suite, member, decoding), mean and spread over seeds,
and each paper's claim checked against the same numbers, whatever it shows.

study.md / study.csv: pass@1 (and pass@k of sampled decodings), mean reasoning positions, FLOPs and
seconds per sample, as mean +- sample standard deviation over the seeds that finished (n says how many).
claims.md: each claim of the study file, per seed and overall, with the numbers it was decided on.
evidence.md, loss_curves.png: per member its training losses and what its thoughts carry (study_evidence.py).
report/: the ordinary `nfbench report` of every run (per-run tables, paired statistics, drill-down).
"""
from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

METRICS = (("pass1_base", "pass@1"), ("passk_base", "pass@k"), ("reasoning_positions_mean", "positions"),
           ("flops_mean", "FLOPs"), ("seconds_mean", "s/sample"))


def study_rows(root: Path) -> list[dict[str, Any]]:
    """One row per finished run under root/runs/<suite>/seed<S>/<member>-<decoding>/, with those four keys."""
    from nfbench.harness.report import tables
    from nfbench.harness.report.load import load_run

    rows = []
    for d in sorted(p.parent for p in (root / "runs").glob("*/seed*/*/summary.json")):
        run = load_run(d)  # each on its own: load_runs keeps one run per checkpoint (greedy or sampled)
        member, _, decoding = d.name.rpartition("-")
        rows.append({**tables.run_row(run), "suite": d.parent.parent.name, "seed": int(d.parent.name[4:]),
                     "member": member, "decoding": decoding, "dir": str(d)})
    return rows


def spread(values: list[float]) -> tuple[float | None, float | None]:
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def aggregate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["suite"], r["member"], r["decoding"])].append(r)
    out = []
    for (suite, member, decoding), rs in sorted(groups.items()):
        row: dict[str, Any] = {"suite": suite, "member": member, "decoding": decoding, "n_seeds": len(rs),
                               "seeds": ",".join(str(r["seed"]) for r in sorted(rs, key=lambda r: r["seed"])),
                               "k": rs[0].get("k_base")}
        for key, _ in METRICS:
            row[f"{key}_mean"], row[f"{key}_sd"] = spread([r.get(key) for r in rs])
        out.append(row)
    return out


def _cell(row: dict[str, Any], key: str) -> str:
    mean, sd = row[f"{key}_mean"], row[f"{key}_sd"]
    if mean is None:
        return "-"
    if key.startswith("pass"):
        return f"{100 * mean:.1f} ± {100 * sd:.1f}"
    from nfbench.harness.report.tables import si

    return f"{si(mean)} ± {si(sd)}" if key == "flops_mean" else f"{mean:.3g} ± {sd:.2g}"


def table(agg: list[dict[str, Any]]) -> str:
    head = "| suite | method | decoding | seeds | " + " | ".join(label for _, label in METRICS) + " |"
    lines = [head, "|" + "---|" * (4 + len(METRICS))]
    for r in agg:
        k = f" (k={r['k']})" if r["k"] else ""
        cells = [_cell(r, key) + (k if key == "passk_base" and r["k"] else "") for key, _ in METRICS]
        lines.append(f"| {r['suite']} | {r['member']} | {r['decoding']} | {r['n_seeds']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- claims ------------------------------------------------------------------------------------
def check_claim(claim: dict[str, Any], rows: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """("holds" | "fails" | "not measured", lines of evidence) for one claim of the study file.

    A claim compares `member` with `against` on each of its suites, seed by seed (the same CoT start):
    pass@1 >= against's - pass1_margin (or > against's with pass1_raise), pass@k >= against's -
    passk_margin where given, mean positions <= positions_ratio x against's where given. It holds on a
    suite when the seed-mean satisfies it (every seed's with every_seed)."""
    decoding = claim.get("decoding", "greedy")
    index = {(r["suite"], r["seed"], r["member"], r["decoding"]): r for r in rows}
    verdicts, lines = [], []
    for suite in claim["suites"]:
        pairs = [(index[(suite, s, claim["member"], decoding)], index[(suite, s, claim["against"], decoding)])
                 for (sx, s, m, d) in index if sx == suite and m == claim["member"] and d == decoding
                 and (suite, s, claim["against"], decoding) in index]
        if not pairs:
            lines.append(f"  {suite}: not measured (no finished {claim['member']} and {claim['against']} runs)")
            verdicts.append(None)
            continue
        per_seed = [_satisfies(claim, a, b) for a, b in pairs]
        mean_a = {k: spread([a.get(k) for a, _ in pairs])[0] for k in ("pass1_base", "passk_base", "reasoning_positions_mean")}
        mean_b = {k: spread([b.get(k) for _, b in pairs])[0] for k in ("pass1_base", "passk_base", "reasoning_positions_mean")}
        ok = all(per_seed) if claim.get("every_seed") else _satisfies(claim, mean_a, mean_b)
        verdicts.append(ok)
        seeds = ", ".join(f"seed {a['seed']}: {_describe(a, b)} {'ok' if s else 'no'}" for (a, b), s in zip(pairs, per_seed))
        lines.append(f"  {suite}: {'holds' if ok else 'fails'} — mean {_describe(mean_a, mean_b)}; {seeds}")
    if None in verdicts:
        status = "not measured" if all(v is None for v in verdicts) else "partly measured"
    else:
        status = "holds" if all(verdicts) else "fails"
    return status, lines


def _satisfies(claim: dict[str, Any], a: dict[str, Any], b: dict[str, Any]) -> bool:
    p1a, p1b = a.get("pass1_base") or 0.0, b.get("pass1_base") or 0.0
    ok = p1a > p1b if claim.get("pass1_raise") else p1a >= p1b - float(claim.get("pass1_margin", 0.0))
    if "passk_margin" in claim:
        ok &= (a.get("passk_base") or 0.0) >= (b.get("passk_base") or 0.0) - float(claim["passk_margin"])
    if "positions_ratio" in claim:
        ok &= (a.get("reasoning_positions_mean") or 0.0) <= float(claim["positions_ratio"]) * (b.get("reasoning_positions_mean") or 0.0)
    return bool(ok)


def _describe(a: dict[str, Any], b: dict[str, Any]) -> str:
    text = f"pass@1 {100 * (a.get('pass1_base') or 0):.1f} vs {100 * (b.get('pass1_base') or 0):.1f}"
    if a.get("passk_base") is not None and b.get("passk_base") is not None:
        text += f", pass@k {100 * a['passk_base']:.1f} vs {100 * b['passk_base']:.1f}"
    return text + f", positions {a.get('reasoning_positions_mean') or 0:.1f} vs {b.get('reasoning_positions_mean') or 0:.1f}"


def write_study_report(study: Any, root: Path) -> None:
    from nfbench.harness.report import build_report
    from nfbench.harness.study_evidence import write_evidence

    rows = study_rows(root)
    agg = aggregate(rows)
    root.mkdir(parents=True, exist_ok=True)
    if agg:
        with (root / "study.csv").open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(agg[0]))
            w.writeheader()
            w.writerows(agg)
    text = f"# {study.name}: mean ± sd over seeds\n\n{table(agg)}\n"
    (root / "study.md").write_text(text)
    claims = [f"# {study.name}: the papers' claims\n"]
    for claim in study.claims:
        status, lines = check_claim(claim, rows)
        claims += [f"- **{status}**: {claim['claim']}", *lines]
    claims.append("\nWhy a member scores what it does (loss per stage, what its thoughts carry): evidence.md")
    (root / "claims.md").write_text("\n".join(claims) + "\n")
    write_evidence(root, study.name)
    print(text + "\n" + "\n".join(claims))
    # one ordinary report per decoding and seed (within one, every run has its own checkpoint)
    for decoding, seed in sorted({(r["decoding"], r["seed"]) for r in rows}):
        dirs = [r["dir"] for r in rows if (r["decoding"], r["seed"]) == (decoding, seed)]
        html = build_report(dirs, root / "report" / f"{decoding}-seed{seed}", echo=False)
        print(f"report ({decoding}, seed {seed}): {html}")

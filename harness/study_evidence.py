"""The study's evidence: why a member scores what it does, next to the numbers (issue 20 asks that a
claim that fails at the study budget be shown with its reasons, not only its number).

Per suite, seed and trained member, from what training and the greedy run already wrote (nothing is
recomputed): each stage's loss at its first and last log and its minimum (metrics.csv of the stage
folder; a loss still falling at the end says "under-trained", a flat one "not learning"), the last
validation pass@1 the trainer measured, and how many of the ground-truth chain's values the member's
thoughts reproduce in place (`nfbench inspect`'s fidelity: a latent member whose thoughts carry none of
the chain answers without it). evidence.md has the table, loss_curves.png one panel per member.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any


def stage_curves(member_dir: Path) -> list[tuple[str, list[int], list[float]]]:
    """(stage, steps, losses) in training order, from checkpoint.json's stage list and each metrics.csv."""
    info = json.loads((member_dir / "checkpoint.json").read_text())
    curves = []
    for stage in info.get("stages") or []:
        path = member_dir / stage["name"] / "metrics.csv"
        if not path.is_file():
            continue
        with path.open() as f:
            rows = [r for r in csv.DictReader(f) if r.get("loss")]
        curves.append((stage["name"], [int(r["step"]) for r in rows], [float(r["loss"]) for r in rows]))
    return curves


def last_validation(member_dir: Path, stages: list[str]) -> float | None:
    for name in reversed(stages):
        path = member_dir / name / "metrics.csv"
        with path.open() as f:
            values = [r["val_pass@1"] for r in csv.DictReader(f) if r.get("val_pass@1")]
        if values:
            return float(values[-1])
    return None


def thought_fidelity(run_dir: Path) -> str:
    """The greedy run's fidelity over its samples ('' where the method records nothing to read)."""
    from nfbench.harness.report.load import load_run
    from nfbench.harness.thoughts import references, run_fidelity

    if not (run_dir / "summary.json").is_file():
        return ""
    run = load_run(run_dir)
    score = run_fidelity(run, references(run))
    if score is None or not score.values:
        return ""
    return f"{100 * score.top1 / score.values:.0f}% of values, {score.exact}/{score.chains} whole chains"


def evidence_rows(root: Path) -> list[dict[str, Any]]:
    rows = []
    for ckpt in sorted((root / "checkpoints").glob("*/seed*/*/checkpoint.json")):
        member_dir = ckpt.parent
        suite, seed, member = member_dir.parent.parent.name, int(member_dir.parent.name[4:]), member_dir.name
        curves = stage_curves(member_dir)
        rows.append({"suite": suite, "seed": seed, "member": member, "curves": curves,
                     "val_pass1": last_validation(member_dir, [c[0] for c in curves]),
                     "fidelity": thought_fidelity(root / "runs" / suite / f"seed{seed}" / f"{member}-greedy")})
    return rows


def _stage_cell(name: str, losses: list[float]) -> str:
    return f"{name} {losses[0]:.3g} → {losses[-1]:.3g} (min {min(losses):.3g})" if losses else f"{name} (no log)"


def evidence_table(rows: list[dict[str, Any]]) -> str:
    lines = ["| suite | seed | member | training loss per stage: first log → last (min) | last val pass@1 | thoughts reproduce |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        stages = "; ".join(_stage_cell(name, losses) for name, _, losses in r["curves"]) or "—"
        val = "" if r["val_pass1"] is None else f"{r['val_pass1']:.2f}"
        lines.append(f"| {r['suite']} | {r['seed']} | {r['member']} | {stages} | {val} | {r['fidelity']} |")
    return "\n".join(lines)


def plot_curves(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """One panel per (suite, member), a line per seed, stages one after another on the step axis."""
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(r["suite"], r["member"]) for r in rows})
    cols = min(4, len(panels))
    fig, axes = plt.subplots((len(panels) + cols - 1) // cols, cols, figsize=(4 * cols, 3 * ((len(panels) + cols - 1) // cols)),
                             squeeze=False)
    for ax, (suite, member) in zip(axes.flat, panels):
        for r in (r for r in rows if (r["suite"], r["member"]) == (suite, member)):
            offset, xs, ys = 0, [], []
            for _, steps, losses in r["curves"]:
                xs += [offset + s for s in steps]
                ys += losses
                offset += steps[-1] if steps else 0
            ax.plot(xs, ys, label=f"seed {r['seed']}")
        ax.set(title=f"{member} ({suite})", xlabel="optimizer step (stages in order)", ylabel="loss", yscale="log")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write_evidence(root: Path, name: str) -> str:
    rows = evidence_rows(root)
    text = (f"# {name}: evidence per member\n\nLoss curves: loss_curves.png. Thoughts reproduce: the ground-truth "
            f"chain's values found in place in the greedy run's thoughts (`nfbench inspect`).\n\n{evidence_table(rows)}\n")
    (root / "evidence.md").write_text(text)
    plot_curves(rows, root / "loss_curves.png")
    return text

"""The thinking-budget figure: pass@1 (95% CI) against mean reasoning positions and against mean
FLOPs, one line per method through its budget points (runs `nfbench sweep` made, whose summaries
name their point), every method of a task x backbone on one pair of axes."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nfbench.harness.report.load import Run
from nfbench.harness.report.plots import PARETO_AXES, by_group, colours, grid, save, style_quality_axes

FIGURE = "budget_sweep"


def point(run: Run) -> dict[str, Any] | None:
    """(budget, cost means, pass@1 and CI in %) of one swept run; None without pass@1."""
    entry = ((run.summary.get("pass_at_k") or {}).get("base") or {}).get("1")
    if not entry:
        return None
    n = max(1, len(run.generations))
    return {"budget": run.budget["value"], "pass1": 100 * entry["value"],
            "lo": 100 * entry["ci"][0], "hi": 100 * entry["ci"][1],
            "reasoning_positions_mean": sum(run.costs("reasoning_positions")) / n,
            "flops_mean": sum(run.costs("flops")) / n}


def lines(runs: list[Run]) -> dict[tuple[str, str], dict[str, list[dict[str, Any]]]]:
    """{(task, backbone): {line label: points sorted by budget}}; a line = one method's checkpoint."""
    out: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
    swept = [r for r in runs if r.budget]
    for group, members in by_group(swept, lambda r: (r.task, r.backbone)).items():
        by_model: dict[tuple[str, str], list[Run]] = {}
        for r in members:
            by_model.setdefault((r.key[0], r.checkpoint), []).append(r)
        names = [m for m, _ in by_model]
        out[group] = {}
        for (method, ckpt), rs in by_model.items():
            label = method if names.count(method) == 1 else f"{method} [{Path(ckpt).name}]"
            pts = [p for p in map(point, rs) if p is not None]
            out[group][label] = sorted(pts, key=lambda p: p["budget"])
    return out


def sweep_plot(runs: list[Run], out: Path) -> list[Path]:
    """The figure's PNG and SVG; [] when no run is a budget point."""
    groups = lines(runs)
    if not groups:
        return []
    colour = colours([label for g in groups.values() for label in g])
    fig, axes = grid(len(groups), len(PARETO_AXES), width=6.0, height=4.4)
    for ((task, backbone), members), ax_row in zip(groups.items(), axes):
        for ax, (cost, xlabel) in zip(ax_row, PARETO_AXES):
            for label, pts in members.items():
                x = np.array([p[cost] for p in pts])
                y = np.array([p["pass1"] for p in pts])
                err = np.array([[p["pass1"] - p["lo"] for p in pts], [p["hi"] - p["pass1"] for p in pts]])
                ax.errorbar(x, y, yerr=err, fmt="-o", ms=5, capsize=3, color=colour[label], label=label)
                for p, xi, yi in zip(pts, x, y):
                    ax.annotate(str(p["budget"]), (xi, yi), textcoords="offset points", xytext=(4, 4),
                                fontsize=7, color=colour[label])
            if cost == "flops_mean":
                ax.set_xscale("log")
            style_quality_axes(ax, f"{task} / {backbone}", xlabel, "pass@1 base (%), 95% CI", "best")
    fig.suptitle("Thinking-budget sweep: pass@1 against reasoning cost (labels: each method's budget value)")
    return save(fig, out, FIGURE)


def notes_html(runs: list[Run]) -> str:
    """What each swept budget means next to how its model was trained (Method.budget_note), under the figure."""
    import html

    notes = sorted({(r.key[0], r.budget["value"], r.budget["note"]) for r in runs if r.budget.get("note")})
    if not notes:
        return ""
    items = "".join(f"<li><b>{html.escape(m)} at {v}</b>: {html.escape(n)}</li>" for m, v, n in notes)
    return f'<p class="meta">Budget points away from the trained setting:</p><ul class="meta">{items}</ul>'

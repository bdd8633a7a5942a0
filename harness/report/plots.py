"""Figures (PNG + SVG): quality against reasoning cost with its Pareto front, pass@k curves, cost
distributions. One panel per task x backbone; each method keeps its colour in every figure."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import EngFormatter, ScalarFormatter  # noqa: E402

from nfbench.harness.metrics import correct_by_problem, pass_at_k_table  # noqa: E402
from nfbench.harness.report.load import Run  # noqa: E402

Group = tuple[str, str]  # (task, backbone)


def colours(methods: list[str]) -> dict[str, Any]:
    cmap = plt.get_cmap("tab10")
    return {m: cmap(i % 10) for i, m in enumerate(sorted(set(methods)))}


def by_group(items: list[Any], key) -> dict[Group, list[Any]]:
    groups: dict[Group, list[Any]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return dict(sorted(groups.items()))


def save(fig: plt.Figure, out: Path, name: str) -> list[Path]:
    paths = [out / f"{name}.png", out / f"{name}.svg"]
    fig.savefig(paths[0], dpi=110)  # constrained layout already fits the labels
    fig.savefig(paths[1])
    plt.close(fig)
    return paths


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of points that no other point beats on both cost (lower) and quality (higher)."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -np.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def grid(n_rows: int, n_cols: int, width: float = 5.2, height: float = 3.8):
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(width * n_cols, height * n_rows), squeeze=False,
                             layout="constrained")
    return fig, axes


PARETO_AXES = (("reasoning_positions_mean", "mean reasoning positions per sample (tokens or latent steps)"),
               ("flops_mean", "mean FLOPs per sample"))


def pareto_plot(rows: list[dict[str, Any]], out: Path) -> list[Path]:
    groups = by_group(rows, lambda r: (r["task"], r["backbone"]))
    colour = colours([r["method"] for r in rows])
    fig, axes = grid(len(groups), len(PARETO_AXES))
    for (task, backbone), ax_row in zip(groups, axes):
        members = [r for r in groups[(task, backbone)] if r["pass1_base"] is not None]
        for ax, (cost, label) in zip(ax_row, PARETO_AXES):
            points = [(r[cost], 100 * r["pass1_base"]) for r in members]
            span = (max(p[0] for p in points) - min(p[0] for p in points)) or 1.0 if points else 1.0
            for i, (r, (x, y)) in enumerate(zip(members, points)):
                # stack the labels of points that (nearly) coincide so they stay readable
                stack = sum(abs(x - px) < 0.06 * span and abs(y - py) < 4 for px, py in points[:i])
                err = [[y - 100 * r["pass1_base_lo"]], [100 * r["pass1_base_hi"] - y]]
                ax.errorbar([x], [y], yerr=err, fmt="o", ms=7, capsize=3, color=colour[r["method"]],
                            label=r["method"])
                ax.annotate(r["method"], (x, y), textcoords="offset points", xytext=(6, 5 + 10 * stack),
                            fontsize=8)
            front = [points[i] for i in pareto_front(points)]
            if front:
                ax.step(*zip(*front), where="post", color="black", ls="--", lw=1, zorder=0,
                        label="Pareto front")
                ax.scatter(*zip(*front), s=180, facecolors="none", edgecolors="black", zorder=0)
            ax.margins(x=0.12)  # linear: direct answers cost 0 positions, keep them in view
            ax.xaxis.set_major_formatter(EngFormatter())
            style_quality_axes(ax, f"{task} / {backbone}", label, "pass@1 base (%), 95% CI", "best")
    fig.suptitle("Quality vs reasoning cost (dashed: Pareto front; circled: on the front)")
    return save(fig, out, "pareto")


def style_quality_axes(ax, title: str, xlabel: str, ylabel: str, legend_loc: str) -> None:
    """Shared look of the panels whose y axis is a pass rate in percent."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-3, 103)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc=legend_loc)


def pass_at_k_curves(run: Run) -> dict[str, dict[int, tuple[float, float, float]]]:
    """{"base"/"plus": {k: (value, lo, hi)}} for k = 1, 2, 4, ... up to the sample count."""
    out = {}
    for part, table in correct_by_problem(run.verdicts).items():
        if not table:
            continue
        n = min(len(v) for v in table.values())
        ks = sorted({2 ** i for i in range(int(np.log2(n)) + 1)} | {n})
        res = pass_at_k_table(table, ks, n_boot=200)
        out[part] = {int(k): (e["value"], *e["ci"]) for k, e in res.items()}
    return out


def pass_at_k_plot(runs: list[Run], out: Path) -> list[Path]:
    groups = by_group(runs, lambda r: (r.task, r.backbone))
    colour = colours([r.method for r in runs])
    cols = min(3, len(groups))
    fig, axes = grid((len(groups) + cols - 1) // cols, cols, width=5.0)
    for ax in axes.flat[len(groups):]:
        ax.set_visible(False)
    for ((task, backbone), members), ax in zip(groups.items(), axes.flat):
        for run in members:
            for part, curve in pass_at_k_curves(run).items():
                ks = sorted(curve)
                vals = np.array([curve[k] for k in ks]) * 100
                style = "-" if part == "base" else "--"
                ax.plot(ks, vals[:, 0], style, marker="o", ms=4, color=colour[run.method],
                        label=f"{run.method} ({part})")
                ax.fill_between(ks, vals[:, 1], vals[:, 2], color=colour[run.method], alpha=0.12)
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_formatter(ScalarFormatter())
        style_quality_axes(ax, f"{task} / {backbone}", "k (samples per problem)",
                           "pass@k (%), shaded: 95% CI", "lower right")
    # two lines: one panel (a single task) is too narrow for the whole title on one line
    fig.suptitle("pass@k (unbiased estimator)\nsolid: base tests, dashed: plus tests")
    return save(fig, out, "pass_at_k")


DISTRIBUTIONS = (("reasoning_positions", "reasoning positions per sample"),
                 ("seconds", "seconds per sample (reasoning + answer)"))


def cost_values(run: Run, name: str) -> list[float]:
    if name == "seconds":
        return [a + b for a, b in zip(run.costs("reasoning_seconds"), run.costs("answer_seconds"))]
    return run.costs(name)


def cost_distribution_plot(runs: list[Run], out: Path) -> list[Path]:
    groups = by_group(runs, lambda r: (r.task, r.backbone))
    colour = colours([r.method for r in runs])
    fig, axes = grid(len(groups), len(DISTRIBUTIONS))
    for ((task, backbone), members), ax_row in zip(groups.items(), axes):
        for ax, (name, label) in zip(ax_row, DISTRIBUTIONS):
            data = [cost_values(r, name) or [0.0] for r in members]
            box = ax.boxplot(data, patch_artist=True, showmeans=True, widths=0.6,
                             medianprops={"color": "black"},
                             meanprops={"marker": "^", "markerfacecolor": "white", "markeredgecolor": "black"})
            for patch, run in zip(box["boxes"], members):
                patch.set_facecolor(colour[run.method])
                patch.set_alpha(0.6)
            ax.set_xticks(range(1, len(members) + 1), [r.method for r in members], rotation=20)
            ax.set_ylabel(label)
            ax.set_title(f"{task} / {backbone}")
            ax.grid(alpha=0.3, axis="y")
    fig.suptitle("Cost distributions over samples (box: quartiles, whiskers: 1.5 IQR, triangle: mean)")
    return save(fig, out, "cost_distributions")


def make_plots(runs: list[Run], rows: list[dict[str, Any]], out: Path) -> list[Path]:
    """All figures; returns their paths (PNG then SVG for each)."""
    from nfbench.harness.report.sweep_plot import sweep_plot

    return pareto_plot(rows, out) + pass_at_k_plot(runs, out) + cost_distribution_plot(runs, out) + sweep_plot(runs, out)

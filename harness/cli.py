"""The `nfbench` command line. It parses options and calls the modules that do the work;
heavy imports (torch, docker) happen inside the commands that need them."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from nfbench.harness.errors import UserError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Compare explicit and latent reasoning methods for LLM code generation: "
                       "train them, run them on a task with every solution executed in a Docker "
                       "sandbox, and report pass@k against the cost of intermediate reasoning.")
sandbox_app = typer.Typer(no_args_is_help=True, help="Build or check the Docker execution sandbox.")
ls_app = typer.Typer(no_args_is_help=True, help="List methods (and their options), tasks, runs or checkpoints.")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(ls_app, name="ls")
try:  # `nfbench data` lives with the SFT-data code; torch-free at import
    from nfbench.harness.cli_data import data_app

    app.add_typer(data_app, name="data")
except ImportError:  # pragma: no cover - only while the module does not exist
    pass

log = logging.getLogger("nfbench")
DEBUG = {"on": os.environ.get("NFBENCH_DEBUG") == "1"}

ENGINES_HELP = ("Docker engines to execute on, comma-separated: unix://, tcp:// (TLS from DOCKER_TLS_VERIFY/"
                "DOCKER_CERT_PATH), ssh://user@host, a docker context name, or 'default'; each may end in "
                "#WORKERS or #WORKERS:FIRSTCPU-LASTCPU (default: that engine's CPU count).")
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML config file (see configs/).")]
SetOpt = Annotated[Optional[list[str]], typer.Option(
    "--set", "-s", help="Override a config key: --set n_samples=8 --set method_config.slots=8 (repeatable).")]
OutOpt = Annotated[Optional[Path], typer.Option("--out", "-o", help="Directory to write into "
                                                "(default: results/runs/<run_id>).")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Start over: move an existing run directory "
                                        "aside (never deleted) instead of resuming it.")]
# options that `run` and `sweep` share
LimitOpt = Annotated[Optional[int], typer.Option(help="Only the first N problems.")]
SplitOpt = Annotated[Optional[str], typer.Option(help="Task split (default: the task's evaluation split).")]
SamplesOpt = Annotated[Optional[int], typer.Option("--n-samples", "-n", help="Samples per problem.")]
TemperatureOpt = Annotated[Optional[float], typer.Option(help="0 = greedy.")]
SeedOpt = Annotated[Optional[int], typer.Option(help="Random seed.")]
SandboxOpt = Annotated[Optional[str], typer.Option(help="docker (default) or local (unsandboxed!).")]
PLUS_HELP = ("Run a sample's plus tests even when its base tests failed (default: evalplus-exact plus_status); "
             "--skip-plus-after-base-fail records plus_status 'skipped' for those instead: same pass@k, faster.")


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks.")] = False,
          verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug-level logging.")] = False) -> None:
    DEBUG["on"] = DEBUG["on"] or debug
    configure_logging(logging.DEBUG if verbose else logging.INFO)


def configure_logging(level: int) -> None:
    """The CLI's log format; also used by the regression's training children."""
    logging.basicConfig(level=level, format="[%(asctime)s %(levelname)s] %(message)s", datefmt="%H:%M:%S")
    if level > logging.DEBUG:  # accelerate logs every file of every resumable save at INFO
        logging.getLogger("accelerate").setLevel(logging.WARNING)


def _overrides(sets: list[str] | None, **flags: Any) -> dict[str, Any]:
    """Explicit flags and --set pairs, in that order (flags left at None do not override YAML)."""
    from nfbench.harness.config import parse_overrides

    out = {k: v for k, v in flags.items() if v is not None}
    out.update(parse_overrides(sets or []))
    return out


def _print_config(cfg: Any) -> None:
    import yaml

    from nfbench.harness.config import to_dict

    typer.echo("# resolved config\n" + yaml.safe_dump(to_dict(cfg), sort_keys=False).rstrip(), err=True)


# --- run / eval / train ------------------------------------------------------------------------
@app.command()
def run(
    method: Annotated[Optional[str], typer.Option("--method", "-m", help="Reasoning method (`nfbench ls methods`).")] = None,
    task: Annotated[Optional[str], typer.Option("--task", "-t", help="Task (`nfbench ls tasks`).")] = None,
    backbone: Annotated[Optional[str], typer.Option(help="Backbone: smollm2-135m, tiny-llama, a HF id, a local dir or a .gguf file.")] = None,
    checkpoint: Annotated[Optional[str], typer.Option(help="Trained checkpoint dir (default: the latest for method+backbone).")] = None,
    limit: LimitOpt = None,
    split: SplitOpt = None,
    n_samples: SamplesOpt = None,
    temperature: TemperatureOpt = None,
    seed: SeedOpt = None,
    sandbox: SandboxOpt = None,
    sandbox_engines: Annotated[Optional[str], typer.Option(help=ENGINES_HELP)] = None,
    plus_after_base_fail: Annotated[Optional[bool], typer.Option(
        "--plus-after-base-fail/--skip-plus-after-base-fail", help=PLUS_HELP)] = None,
    config: ConfigOpt = None, set_: SetOpt = None, out: OutOpt = None, force: ForceOpt = False,
) -> None:
    """Generate with a method on a task, execute every solution in the sandbox, and summarise.

    Re-running the same command resumes where it stopped. Example:
    nfbench run --method cot --task humaneval --limit 5
    """
    from nfbench.harness import pipeline
    from nfbench.harness.config import RunConfig, load_config

    cfg = load_config(RunConfig, str(config) if config else None, _overrides(
        set_, method=method, task=task, backbone=backbone, checkpoint=checkpoint, limit=limit,
        split=split, n_samples=n_samples, temperature=temperature, seed=seed, sandbox=sandbox,
        sandbox_engines=sandbox_engines, plus_after_base_fail=plus_after_base_fail))
    _print_config(cfg)
    path, summary = pipeline.run(cfg, out=str(out) if out else None, force=force)
    if summary:
        _print_summary(path, summary)


@app.command("eval")
def eval_(
    task: Annotated[str, typer.Option("--task", "-t", help="Task the samples belong to.")],
    samples: Annotated[Path, typer.Option(help="evalplus samples file: JSONL of {task_id, solution|completion}.")],
    sandbox: Annotated[str, typer.Option(help="docker (default) or local (unsandboxed!).")] = "docker",
    workers: Annotated[Optional[int], typer.Option(help="Sandbox workers (default: CPU count).")] = None,
    sandbox_engines: Annotated[Optional[str], typer.Option(help=ENGINES_HELP)] = None,
    data_dir: Annotated[Optional[str], typer.Option(help="Data directory (default: $NFBENCH_DATA_DIR).")] = None,
    plus_after_base_fail: Annotated[bool, typer.Option(
        "--plus-after-base-fail/--skip-plus-after-base-fail", help=PLUS_HELP)] = True,
    out: OutOpt = None, force: ForceOpt = False,
) -> None:
    """Score an existing samples file (from nfbench or any other tool) in the sandbox."""
    from nfbench.harness import pipeline

    path, summary = pipeline.evaluate(task, samples, out=str(out) if out else None, force=force,
                                      sandbox=sandbox, workers=workers, engines=sandbox_engines,
                                      data_dir=data_dir, plus_after_base_fail=plus_after_base_fail)
    _print_summary(path, summary)


@app.command()
def train(
    method: Annotated[str, typer.Argument(help="Method to train (`nfbench ls methods`).")],
    task: Annotated[Optional[str], typer.Option("--task", "-t", help="Task trained for: its train split (decontaminated), "
                                                "validation and RL tests (default mbpp).")] = None,
    backbone: Annotated[Optional[str], typer.Option(help="Backbone to start from (default smollm2-135m, as for `run`).")] = None,
    data: Annotated[Optional[str], typer.Option(help="SFT records: a JSONL from `nfbench data`, or a task name (its own "
                                                "records); default: the task's CoT set (results/data/<task>-cot.jsonl).")] = None,
    name: Annotated[Optional[str], typer.Option(help="Checkpoint name: results/checkpoints/<method>/<name>/ "
                                                "(default <backbone>-<task>-<data hash>).")] = None,
    stage: Annotated[Optional[str], typer.Option(help="Run only this stage (or group, e.g. stage1 = stage1-*) "
                                                 "of the method's stages (`nfbench ls options M`).")] = None,
    init_from: Annotated[Optional[str], typer.Option(help="Checkpoint to start from (default: the latest cot checkpoint of the "
                                                     "backbone and task, for methods that start from one); `backbone` = the raw backbone.")] = None,
    with_cot: Annotated[bool, typer.Option("--with-cot", help="If the method starts from a CoT model and there is none "
                                           "for this backbone, task and data, train it first.")] = False,
    config: ConfigOpt = None, set_: SetOpt = None,
) -> None:
    """Train a method: its stages in order, each resumable (re-run the same command to continue).

    Example: nfbench data distill && nfbench train cot && nfbench train nfcot
    """
    from nfbench.harness import pipeline
    from nfbench.harness.config import TrainConfig, load_config

    cfg = load_config(TrainConfig, str(config) if config else None, _overrides(
        set_, method=method, task=task, backbone=backbone, data=data, name=name, stage=stage, init_from=init_from))
    path = pipeline.train(cfg, with_cot=with_cot, on_resolved=_print_config)
    typer.echo(f"checkpoint: {path}")


@app.command()
def sweep(
    method: Annotated[list[str], typer.Option("--method", "-m", help="Method to sweep (repeatable; `nfbench ls methods`).")],
    budget: Annotated[str, typer.Option(help="Budget points: the method's knob values, e.g. 1,2,4,8,16 "
                                        "(cot: reasoning tokens; coconut: thoughts; latent-sft: max latents; "
                                        "nfcot: K' latent steps; soft-thinking: max steps; pause: pauses).")],
    task: Annotated[Optional[str], typer.Option("--task", "-t", help="Task (`nfbench ls tasks`).")] = None,
    backbone: Annotated[Optional[str], typer.Option(help="Backbone (as for `nfbench run`).")] = None,
    checkpoint: Annotated[Optional[list[str]], typer.Option(help="METHOD=DIR: that method's checkpoint "
                                                            "(default: its latest; repeatable).")] = None,
    limit: LimitOpt = None,
    split: SplitOpt = None,
    n_samples: SamplesOpt = None,
    temperature: TemperatureOpt = None,
    seed: SeedOpt = None,
    sandbox: SandboxOpt = None,
    config: ConfigOpt = None, set_: SetOpt = None, force: ForceOpt = False,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Where the figure and sweep.json go "
                                                "(default: results/sweeps/<task>-<id>).")] = None,
) -> None:
    """Sweep methods' thinking budgets: one ordinary run per (method, budget) point, the model loaded
    once per method, and a figure of pass@1 against reasoning positions and FLOPs.

    Example: nfbench sweep -m cot -m nfcot --task synth --budget 1,2,4,8 --limit 50
    """
    from nfbench.harness import sweep as sw
    from nfbench.harness.store import results_root

    budgets = sw.parse_budgets(budget)
    overrides = _overrides(set_, task=task, backbone=backbone, limit=limit, split=split, n_samples=n_samples,
                           temperature=temperature, seed=seed, sandbox=sandbox)
    points = sw.run_sweep(method, budgets, str(config) if config else None, overrides,
                          sw.checkpoints(checkpoint, method), force=force)
    where = out or results_root() / "sweeps" / sw.sweep_id(points[0].summary.get("task", "task"), method, budgets, overrides)
    figure = sw.write_figure(points, where)
    typer.echo(sw.table(points))
    typer.echo(f"figure: {figure[0] if figure else '(none: no point has pass@1)'}")


@app.command()
def inspect(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (`nfbench ls runs`).")],
    problem: Annotated[Optional[list[str]], typer.Option("--problem", "-p", help="Only this task id (repeatable).")] = None,
    n: Annotated[int, typer.Option(help="Problems shown without --problem (chosen deterministically, "
                                   "solved and failed).")] = 4,
    tokens: Annotated[int, typer.Option(help="Tokens shown per latent step.")] = 3,
) -> None:
    """What a run's latent thoughts say: decoded NF-CoT latents with their log-likelihoods, Latent-SFT's
    and Soft Thinking's mixtures (and N_eff), Coconut's nearest tokens, CoT's text; and how often the
    decoded chain reproduces the ground truth's values (synth)."""
    from nfbench.harness.thoughts import inspect_run

    typer.echo(inspect_run(run_dir, problem, n=n, tokens=tokens))


def _print_summary(path: Path, summary: dict[str, Any]) -> None:
    lines = [f"run: {path}"]
    for part in ("base", "plus"):
        table = (summary.get("pass_at_k") or {}).get(part) or {}
        if table:
            cells = ", ".join(f"pass@{k}={v['value']:.3f} [{v['ci'][0]:.3f}, {v['ci'][1]:.3f}]"
                              for k, v in table.items())
            lines.append(f"{part}: {cells}")
    cost = summary.get("cost") or {}
    if "reasoning_positions" in cost:
        rp = cost["reasoning_positions"]
        lines.append(f"reasoning positions: mean {rp['mean']:.1f}, median {rp['median']:.1f}, p90 {rp['p90']:.1f}")
    typer.echo("\n".join(lines))


# --- report / regress / export -----------------------------------------------------------------
@app.command()
def report(
    runs: Annotated[list[str], typer.Argument(help="Run directories or globs (default: results/runs/*).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Report directory (default: results/report).")] = None,
    compare: Annotated[Optional[Path], typer.Option(help="Baseline JSON: mark regressions (paired test on the same problems, else beyond the CI).")] = None,
) -> None:
    """Tables (Markdown, CSV, LaTeX), plots and an HTML report comparing runs. Never imports torch."""
    from nfbench.harness.report import build_report
    from nfbench.harness.store import results_root

    html = build_report(runs or [str(results_root() / "runs" / "*")], out or results_root() / "report", compare)
    typer.echo(f"report: {html}")


@app.command()
def regress(
    suite: Annotated[Optional[Path], typer.Option(help="Suite file (default: ci/suite.yaml of this checkout).")] = None,
    baseline: Annotated[Optional[Path], typer.Option(help="Baseline file with tolerances (default: the suite's).")] = None,
    update: Annotated[bool, typer.Option(help="Write the measured numbers as the new baseline.")] = False,
    smoke: Annotated[bool, typer.Option(help="Instead: zero-shot cot with SmolLM2-135M on 3 HumanEval+ problems.")] = False,
    method: Annotated[Optional[list[str]], typer.Option("--method", "-m", help="Only these methods (repeatable).")] = None,
    reuse_checkpoints: Annotated[bool, typer.Option(help="Evaluate on the newest cached checkpoints even if code/config changed.")] = False,
) -> None:
    """CI regression: train and run every method on the synthetic suite with a tiny backbone."""
    from nfbench.harness.regress import run_regression

    raise typer.Exit(run_regression(suite_path=suite, baseline=baseline, update=update, smoke=smoke, methods=method,
                                    reuse_checkpoints=reuse_checkpoints))


@app.command()
def study(
    study_file: Annotated[Optional[Path], typer.Option("--study", help="Study file (default: configs/study/study.yaml of this checkout).")] = None,
    suite: Annotated[Optional[list[str]], typer.Option("--suite", "-s", help="Only these suites (repeatable).")] = None,
    method: Annotated[Optional[list[str]], typer.Option("--method", "-m", help="Only these members, with those they start from (repeatable).")] = None,
    seed: Annotated[Optional[list[int]], typer.Option("--seed", help="Only these seeds (repeatable).")] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Study directory (default: results/study/<name>).")] = None,
    report_only: Annotated[bool, typer.Option(help="Only rewrite the tables, claims and reports from the finished runs.")] = False,
    lock: Annotated[Optional[Path], typer.Option(help="Hold this flock file during each training and run, not for the whole study.")] = None,
) -> None:
    """Every method x suite x seed at its paper's schedule, greedy and sampled, then mean +- sd over
    seeds and the papers' claims checked. Resumable: rerun the same command to continue."""
    from nfbench.harness.study import run_study

    raise typer.Exit(run_study(study_file, suite, method, seed, out, report_only, lock))


@app.command()
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Samples file (default: <run_dir>/samples.jsonl).")] = None,
) -> None:
    """Export a run's generations as an evalplus samples file ({task_id, solution})."""
    import shutil

    from nfbench.harness.store import GENERATIONS, RunStore

    store = RunStore(run_dir)
    if not store.exists(GENERATIONS):
        raise UserError(f"{run_dir} has no {GENERATIONS}", "pass a run directory (`nfbench ls runs`)")
    path = store.write_samples()
    if out:
        shutil.copyfile(path, out)
        path = out
    typer.echo(f"samples: {path}")


# --- sandbox -----------------------------------------------------------------------------------
@sandbox_app.command("build")
def sandbox_build(force: Annotated[bool, typer.Option(help="Rebuild even if the image exists.")] = False) -> None:
    """Build (or find) the sandbox image; offline build when no registry answers."""
    from nfbench.sandbox.image import build_image

    typer.echo(f"sandbox image: {build_image(force=force)}")


@sandbox_app.command("check")
def sandbox_check() -> None:
    """Say whether the Docker engine and the sandbox image are ready, and how to fix what is not."""
    from nfbench.sandbox.image import check_ready

    lines = check_ready()
    for ok, message in lines:
        typer.echo(f"{'ok ' if ok else 'NO '} {message}")
    if not all(ok for ok, _ in lines):
        raise typer.Exit(2)


# --- ls ----------------------------------------------------------------------------------------
@ls_app.command("methods")
def ls_methods() -> None:
    """Registered reasoning methods."""
    from nfbench.harness.registry import METHODS

    for e in METHODS.entries().values():
        typer.echo(f"{e.name:16s} {e.summary}")


@ls_app.command("options")
def ls_options(method: Annotated[str, typer.Argument(help="A method (`nfbench ls methods`).")]) -> None:
    """A method's options (`--set method_config.<option>=...`) with their help, and its training stages."""
    from nfbench.harness.listing import list_options

    typer.echo(list_options(method))


@ls_app.command("tasks")
def ls_tasks(data_dir: Annotated[Optional[str], typer.Option(help="Data directory.")] = None) -> None:
    """Registered tasks with their size, splits, source and licence."""
    from nfbench.harness.listing import list_tasks

    typer.echo(list_tasks(data_dir))


@ls_app.command("runs")
def ls_runs(root: Annotated[Optional[Path], typer.Option(help="Runs directory.")] = None) -> None:
    """Runs in the results directory, with pass@1."""
    from nfbench.harness.listing import list_runs

    typer.echo(list_runs(root))


@ls_app.command("checkpoints")
def ls_checkpoints(root: Annotated[Optional[Path], typer.Option(help="Checkpoints directory.")] = None) -> None:
    """Trained checkpoints, newest first."""
    from nfbench.harness.listing import list_checkpoints

    typer.echo(list_checkpoints(root))


def _is_usage_error(e: BaseException) -> bool:
    """click's UsageError (unknown command/option, missing argument); typer vendors click, so by name."""
    return any(c.__name__ == "UsageError" for c in type(e).__mro__)


def main() -> None:
    """Entry point: user mistakes (usage errors included) -> one line + exit 2; tracebacks only with --debug."""
    try:
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except (KeyboardInterrupt, typer.Abort):
        typer.echo("interrupted; re-run the same command to resume", err=True)
        sys.exit(130)
    except UserError as e:
        if DEBUG["on"]:
            raise
        typer.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except Exception as e:
        if DEBUG["on"]:
            raise
        if _is_usage_error(e):
            if not e.format_message():  # `nfbench`, `nfbench ls` with no arguments: click printed the help
                sys.exit(0)
            ctx = getattr(e, "ctx", None)
            typer.echo(f"error: {e.format_message()} — see `{ctx.command_path if ctx else 'nfbench'} --help`", err=True)
            sys.exit(2)
        typer.echo(f"error: {type(e).__name__}: {e} (re-run with --debug for the traceback)", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()

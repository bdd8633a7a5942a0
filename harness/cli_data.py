"""`nfbench data`: build CoT SFT sets (JSONL of prompt / reasoning / solution). Torch-free at import."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

data_app = typer.Typer(no_args_is_help=True, help="Build CoT SFT sets for `nfbench train --data FILE.jsonl`.")

OutArg = Annotated[Path, typer.Option("--out", "-o", help="JSONL file to write.")]
DataDirOpt = Annotated[Optional[str], typer.Option(help="Data directory (default: $NFBENCH_DATA_DIR).")]


def _done(out: Path, n: int, stats: dict | None = None) -> None:
    if stats is not None:
        out.with_suffix(".stats.json").write_text(json.dumps(stats, indent=2))
    typer.echo(f"wrote {n} examples to {out}")


@data_app.command("synth")
def data_synth(out: OutArg, split: Annotated[str, typer.Option(help="train | validation | test")] = "train",
               steps: Annotated[Optional[int], typer.Option(help="Chain length (synth's `steps`).")] = None) -> None:
    """The synthetic suite's ground-truth CoT (its compact prompt/reasoning/answer format)."""
    from nfbench.harness.registry import get_task
    from nfbench.harness.sft_data import task_examples, write_sft

    task = get_task("synth")(None, **({"steps": steps} if steps is not None else {}))
    _done(out, write_sft(out, task_examples(task, split)))


@data_app.command("import")
def data_import(
    source: Annotated[str, typer.Argument(help="A JSONL(.gz) file, or hf:<dataset>[:<config>] (needs network).")],
    out: OutArg,
    map_: Annotated[Optional[list[str]], typer.Option("--map", help="OURS=THEIRS, e.g. --map prompt=question "
                    "--map reasoning=rationale --map solution=code (dotted keys reach nested fields).")] = None,
    split: Annotated[str, typer.Option(help="Split of a HF dataset.")] = "train",
    decontaminate: Annotated[bool, typer.Option(help="Drop examples overlapping any evaluation set.")] = True,
    limit: Annotated[Optional[int], typer.Option(help="Only the first N records (a HF dataset is streamed).")] = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Import an existing CoT dataset with a field mapping (README: examples for public code-CoT sets).
    `--map response=F` splits one field holding reasoning and then a ```python block."""
    from nfbench.harness.distill import evaluation_texts
    from nfbench.harness.sft_data import decontaminate as decon, import_records, load_records, parse_mapping, write_sft

    records, name = load_records(source, split, limit)
    examples = import_records(records, parse_mapping(map_ or []), name)
    dropped: list[str] = []
    if decontaminate:
        examples, dropped = decon(examples, evaluation_texts(data_dir))
    _done(out, write_sft(out, examples), {"source": source, "read": len(records), "decontaminated": len(dropped),
                                            "written": len(examples), "dropped_task_ids": dropped})


@data_app.command("distill")
def data_distill(
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="JSONL file to write (default: "
                   "results/data/<task>-cot.jsonl, the set `nfbench train --task <task>` reads).")] = None,
    teacher: Annotated[str, typer.Option(help="Teacher backbone: an instruct model (registry name, HF id, local dir, .gguf).")] = "smollm2-135m",
    task: Annotated[str, typer.Option(help="Task whose training problems to solve.")] = "mbpp",
    splits: Annotated[str, typer.Option(help="Comma-separated splits.")] = "train,validation",
    k: Annotated[int, typer.Option("-k", help="Candidates per problem (rejection sampling).")] = 4,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 0.7,
    top_p: Annotated[float, typer.Option(help="Nucleus sampling mass.")] = 0.95,
    max_new_tokens: Annotated[int, typer.Option(help="Tokens per candidate.")] = 384,
    batch_size: Annotated[int, typer.Option(help="Candidates per generation batch.")] = 8,
    limit: Annotated[Optional[int], typer.Option(help="Only the first N problems.")] = None,
    keep_all: Annotated[bool, typer.Option(help="Keep every passing candidate, not just the first.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    device: Annotated[str, typer.Option(help="auto | cpu | cuda | cuda:N | mps")] = "auto",
    sandbox: Annotated[str, typer.Option(help="docker (default) or local (unsandboxed!).")] = "docker",
    data_dir: DataDirOpt = None,
) -> None:
    """Teacher distillation: sample k reasoning+solution candidates per problem, execute each in the
    sandbox, keep the passing ones. Resumable: re-run the same command to continue (candidates are
    kept in <out>.candidates.jsonl); `--limit` can grow between runs."""
    from nfbench.harness.distill import distill
    from nfbench.harness.sft_data import write_sft
    from nfbench.harness.train_data import default_cot_set

    out = out or default_cot_set(task)
    examples, stats = distill(teacher=teacher, task_name=task, splits=[s.strip() for s in splits.split(",") if s.strip()],
                              k=k, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
                              batch_size=batch_size, limit=limit, seed=seed, sandbox=sandbox, data_dir=data_dir,
                              keep_all=keep_all, out=out, device=device)
    _done(out, write_sft(out, examples), stats)
    typer.echo(f"yield: {stats['passing']}/{stats['candidates']} candidates passed ({100 * stats['yield']:.1f}%), "
               f"{stats['problems_solved']}/{stats['problems_tried']} problems solved; {stats['kept']} kept, "
               f"{stats['decontaminated']} dropped by decontamination")

"""The promised path on real data and the real backbone, cut down: CoT data for MBPP (distilled by the
embedded SmolLM2-135M-Instruct, and imported), every method trained for mbpp on SmolLM2 at a tiny
budget, each run on two MBPP+ problems through the Docker sandbox, one report. Every step is the
`nfbench` command a user types (defaults: backbone smollm2-135m, task mbpp)."""
from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.docker]

TINY = ["--set", "trainer.max_steps=1", "--set", "trainer.batch_size=2", "--set", "trainer.eval_problems=0",
        "--set", "trainer.warmup_steps=0", "--set", "trainer.save_every=1000"]
METHOD_SETS = {
    "cot": [], "direct": [],
    "pause": ["method_config.n_pauses=2"],
    "coconut": ["method_config.max_latent_stage=1", "method_config.num_epochs=15"],  # stage1, then all-latent stage2
    "latent-sft": ["method_config.lora_rank=4"],
    "nfcot": ["method_config.rl_group_size=2", "method_config.rl_max_new_tokens=16",
              "method_config.stages.rl.trainer.max_steps=1", "method_config.stages.rl.trainer.batch_size=1"],
}
RUN = ["--task", "mbpp+", "--limit", "2", "--set", "max_new_tokens=48", "--set", "batch_size=2"]


def nfbench(cmd: list[str], *args: str, cwd: Path, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd + list(args), capture_output=True, text=True, cwd=cwd, timeout=1200)
    if ok:
        assert proc.returncode == 0, (args, proc.stdout[-2000:], proc.stderr[-4000:])
    return proc


def cot_fixture(path: Path, data_dir: str | None) -> None:
    """A public-CoT-dataset look-alike: question / one response field (reasoning, then a fenced program)."""
    from nfbench.harness.registry import get_task
    from nfbench.tasks.training import training_problems

    task = get_task("mbpp")(Path(data_dir) if data_dir else None)
    rows = [{"id": p.task_id, "question": p.prompt,
             "answer": {"text": f"<think>We need `{p.entry_point}`. Write it and return the result.</think>\n"
                                f"```python\n{p.canonical_solution}\n```"}}
            for p in training_problems(task, "train")[:4]]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_every_method_from_mbpp_data_to_a_report(nfbench_cmd, results_dir, tmp_path):
    cwd = tmp_path
    # 1. distillation: batched, k candidates each, every one executed; resumable (nothing redone)
    distilled = tmp_path / "distill.jsonl"
    args = ["data", "distill", "--out", str(distilled), "--limit", "2", "-k", "2", "--max-new-tokens", "32",
            "--batch-size", "4"]
    nfbench(nfbench_cmd, *args, cwd=cwd)
    candidates = tmp_path / "distill.candidates.jsonl"
    rows = [json.loads(line) for line in candidates.read_text().splitlines()]
    assert len(rows) == 4 and all(r["status"] and r["reasoning"] is not None for r in rows)
    stats = json.loads(distilled.with_suffix(".stats.json").read_text())
    assert stats["candidates"] == 4 and stats["problems_tried"] == 2 and "yield" in stats
    before = candidates.read_text()
    assert "yield:" in nfbench(nfbench_cmd, *args, cwd=cwd).stdout
    assert candidates.read_text() == before  # resumed: every candidate was already there

    # 2. the training set: an imported CoT dataset (one response field split into reasoning and program)
    # at the default place `nfbench train --task mbpp` reads
    source = tmp_path / "public-cot.jsonl"
    cot_fixture(source, None)
    default_set = results_dir / "data" / "mbpp-cot.jsonl"
    default_set.parent.mkdir(parents=True)
    nfbench(nfbench_cmd, "data", "import", str(source), "--out", str(default_set), "--map", "task_id=id",
            "--map", "prompt=question", "--map", "response=answer.text", cwd=cwd)
    records = [json.loads(line) for line in default_set.read_text().splitlines()]
    assert len(records) == 4 and all(r["reasoning"].startswith("We need") and "def " in r["solution"] for r in records)

    # 3. a latent method before its CoT model: one line naming the command
    proc = nfbench(nfbench_cmd, "train", "nfcot", cwd=cwd, ok=False)
    assert proc.returncode == 2 and "nfbench train cot --task mbpp" in proc.stderr and "--with-cot" in proc.stderr

    # 4. every method trained for mbpp on SmolLM2 (cot first: the others start from it)
    for method, sets in METHOD_SETS.items():
        extra = [x for s in sets for x in ("--set", s)]
        out = nfbench(nfbench_cmd, "train", method, *TINY, *extra, cwd=cwd).stdout
        ckpt = Path(out.strip().splitlines()[-1].removeprefix("checkpoint: "))
        info = json.loads((ckpt / "checkpoint.json").read_text())
        assert info["complete"] and info["backbone"] == "smollm2-135m" and info["train_config"]["task"] == "mbpp"
        assert info["data"]["n"] == 4 and ckpt.name.startswith("smollm2-135m-mbpp-")
        if method == "nfcot":  # shapes follow the backbone (hidden 576) and the CoTs
            assert info["latent_shape"]["dim"] == 576 * 5 // 8 and info["latent_shape"]["head_width"] == 576
            assert [s["name"] for s in info["stages"]] == ["vae", "stage1", "stage2", "rl"]
        if method not in ("cot", "direct"):  # the latent methods and pause start from the CoT model
            assert "/cot/smollm2-135m-mbpp-" in info["init_from"]

    # 5. runs on MBPP+ find their checkpoint and say which; a checkpoint of another task is refused
    for method in [*METHOD_SETS, "soft-thinking"]:
        extra = ["--set", "method_config.max_thinking_steps=16"] if method == "soft-thinking" else []
        proc = nfbench(nfbench_cmd, "run", "--method", method, *RUN, *extra, cwd=cwd)
        owner = "cot" if method == "soft-thinking" else method
        assert f"{method} uses " in proc.stderr and f"/{owner}/smollm2-135m-mbpp-" in proc.stderr, proc.stderr[-2000:]
        run_dir = Path(proc.stdout.split("run: ")[1].splitlines()[0])
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["n_problems"] == 2 and summary["n_samples"] == 2, summary
        gens = [json.loads(line) for line in (run_dir / "generations.jsonl").read_text().splitlines()]
        assert all(g["extra"]["format"] == "chat" for g in gens)  # the real chat template
    cot_ckpt = next((results_dir / "checkpoints" / "cot").iterdir())
    proc = nfbench(nfbench_cmd, "run", "--method", "cot", "--task", "synth", "--checkpoint", str(cot_ckpt), cwd=cwd, ok=False)
    assert proc.returncode == 2 and "trained for mbpp" in proc.stderr and "nfbench train cot --task synth" in proc.stderr

    # 6. one report over the seven runs
    nfbench(nfbench_cmd, "report", cwd=cwd)
    with open(results_dir / "report" / "results.csv") as f:
        methods = {row["method"].split(" ")[0] for row in csv.DictReader(f) if row["task"] == "mbpp+"}
    assert methods == {*METHOD_SETS, "soft-thinking"}, methods

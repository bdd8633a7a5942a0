"""The CLI's promises: one-line errors with exit code 2, torch-free listings, typed config errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def run_cli(args: list[str], cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd + args, capture_output=True, text=True, cwd=cwd, timeout=300)


def assert_user_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), proc.stderr
    for needle in needles:
        assert needle in err[0], err[0]


def test_help_lists_every_subcommand(nfbench_cmd):
    out = run_cli(["--help"], nfbench_cmd).stdout
    for sub in ("run", "train", "eval", "report", "data", "sandbox", "ls"):
        assert f" {sub} " in out, sub


def test_unknown_method_suggests_the_close_name(nfbench_cmd, results_dir):
    assert_user_error(run_cli(["run", "--method", "cott", "--task", "synth"], nfbench_cmd),
                      "unknown method 'cott'", "did you mean 'cot'?", "known methods:")


def test_unknown_task_suggests_the_close_name(nfbench_cmd, results_dir):
    assert_user_error(run_cli(["run", "--method", "cot", "--task", "humaneval-plus"], nfbench_cmd),
                      "unknown task 'humaneval-plus'", "did you mean", "humaneval+")


def test_usage_errors_are_one_line(nfbench_cmd):
    assert_user_error(run_cli(["train", "--config", "x.yaml"], nfbench_cmd), "Missing argument", "nfbench train --help")
    assert_user_error(run_cli(["runn"], nfbench_cmd), "No such command 'runn'", "Did you mean 'run'?")
    assert_user_error(run_cli(["run", "--bogus"], nfbench_cmd), "No such option: --bogus")


def test_bad_config_key_and_type(nfbench_cmd, results_dir):
    assert_user_error(run_cli(["run", "--set", "n_sample=3"], nfbench_cmd), "n_sample")
    assert_user_error(run_cli(["run", "--set", "n_samples=many"], nfbench_cmd), "n_samples")


def test_config_values_sections_and_near_misses(nfbench_cmd, tmp_path, results_dir):
    near_miss = run_cli(["run", "--set", "n_sampels=3"], nfbench_cmd)
    assert_user_error(near_miss, "did you mean 'n_samples'?")
    assert near_miss.stderr.lower().count("did you mean") == 1, near_miss.stderr  # not Python's too
    assert_user_error(run_cli(["train", "cot", "--set", "trainer.lrr=1"], nfbench_cmd), "did you mean 'trainer.lr'?")
    assert_user_error(run_cli(["train", "cot", "--set", "trainer=3"], nfbench_cmd), "'trainer' must be a mapping")
    assert_user_error(run_cli(["run", "--set", "method_config=5"], nfbench_cmd), "'method_config' must be a mapping")
    for bad in ("limit=-1", "n_samples=0", "top_p=0", "sandbox=bogus"):
        assert_user_error(run_cli(["run", "--set", bad], nfbench_cmd), "bad config value", bad.split("=")[0])
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("method: cot # caf\xe9\n".encode("latin-1"))
    assert_user_error(run_cli(["run", "--config", str(latin1)], nfbench_cmd), "not UTF-8")
    assert not (results_dir / "runs").exists() or not any((results_dir / "runs").iterdir())


def test_no_arguments_prints_help_and_exits_0(nfbench_cmd):
    for args in ([], ["ls"], ["sandbox"]):
        proc = run_cli(args, nfbench_cmd)
        assert proc.returncode == 0 and "Usage" in proc.stdout and not proc.stderr.strip(), (args, proc.stderr)


def test_malformed_and_missing_yaml(nfbench_cmd, tmp_path, results_dir):
    bad = tmp_path / "bad.yaml"
    bad.write_text("method: cot\n  task: [unclosed\n")
    assert_user_error(run_cli(["run", "--config", str(bad)], nfbench_cmd), "malformed YAML", "line")
    assert_user_error(run_cli(["run", "--config", str(tmp_path / "nope.yaml")], nfbench_cmd),
                      "config file not found")


def test_missing_and_malformed_samples_file(nfbench_cmd, tmp_path, results_dir):
    assert_user_error(run_cli(["eval", "--task", "synth", "--samples", str(tmp_path / "x.jsonl")],
                              nfbench_cmd), "samples file not found")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": "synth/test/0", "solution": "x"}\nnot json\n{"task_id": 1}\n')
    assert_user_error(run_cli(["eval", "--task", "synth", "--samples", str(bad)], nfbench_cmd),
                      "bad.jsonl:2: not valid JSON")
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text(json.dumps({"task_id": "HumanEval/0", "solution": "x"}) + "\n")
    assert_user_error(run_cli(["eval", "--task", "synth", "--samples", str(wrong)], nfbench_cmd),
                      "unknown task_id 'HumanEval/0'")


def test_missing_data_says_where_to_put_it(nfbench_cmd, tmp_path, results_dir, monkeypatch):
    monkeypatch.setenv("NFBENCH_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "s.jsonl").write_text(json.dumps({"task_id": "Mbpp/2", "solution": "x"}) + "\n")
    proc = run_cli(["eval", "--task", "mbpp+", "--samples", str(tmp_path / "s.jsonl")], nfbench_cmd)
    assert_user_error(proc, "NFBENCH_DATA_DIR")


@pytest.mark.parametrize("args", [["ls", "methods"], ["ls", "tasks"], ["ls", "runs"], ["ls", "checkpoints"]])
def test_listing_never_imports_torch(args, results_dir):
    code = ("import sys; from nfbench.harness.cli import app\n"
            f"try:\n    app({args!r})\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\nprint('TORCH-FREE')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "TORCH-FREE" in proc.stdout, proc.stderr[-2000:]


def test_ls_methods_and_tasks_name_everything(nfbench_cmd):
    methods = run_cli(["ls", "methods"], nfbench_cmd).stdout
    for name in ("direct", "cot", "coconut", "latent-sft", "soft-thinking", "nfcot", "pause"):
        assert name in methods, methods
    tasks = run_cli(["ls", "tasks"], nfbench_cmd).stdout
    for name in ("humaneval", "humaneval+", "mbpp", "mbpp+", "synth"):
        assert f"\n{name} " in "\n" + tasks, tasks
    assert "licence" in tasks and "source" in tasks


def test_ls_options_shows_a_methods_fields_with_their_help_and_its_stages(nfbench_cmd):
    out = run_cli(["ls", "options", "nfcot"], nfbench_cmd).stdout
    assert "slots = None  # K: latent steps" in out and "stages: vae, stage1, stage2, rl" in out
    assert "stages: none (training-free)" in run_cli(["ls", "options", "soft-thinking"], nfbench_cmd).stdout
    assert_user_error(run_cli(["ls", "options", "nfcott"], nfbench_cmd), "unknown method 'nfcott'")

"""SFT sets: the synth CoT set, JSONL import with a field mapping, decontamination, `nfbench data`."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from nfbench.harness.cli_data import data_app
from nfbench.harness.errors import UserError
from nfbench.harness.registry import get_task
from nfbench.harness.sft_data import (SFTExample, decontaminate, import_records, parse_mapping, read_sft,
                                      task_examples, write_sft)


def test_synth_examples_are_prompt_reasoning_answer():
    task = get_task("synth")(None, steps=3, n_train=20)
    examples = task_examples(task, "train")
    assert len(examples) == 20
    e = examples[0]
    assert e.prompt.endswith("\n") and e.reasoning.count(";") == 2 and e.solution.startswith("def f(x):")
    with pytest.raises(UserError):
        task_examples(task, "no-such-split")


def test_import_with_mapping_and_nested_fields(tmp_path):
    records = [{"id": 7, "q": {"text": "Add two numbers."}, "steps": ["add them"], "code": "def add(a, b):\n    return a + b"}]
    mapping = parse_mapping(["task_id=id", "prompt=q.text", "reasoning=steps.0", "solution=code"])
    [ex] = import_records(records, mapping, "toy")
    assert (ex.task_id, ex.prompt, ex.reasoning) == ("7", "Add two numbers.", "add them")
    with pytest.raises(UserError, match="--map"):
        import_records(records, parse_mapping([]), "toy")  # no 'prompt' key in the record
    with pytest.raises(UserError):
        parse_mapping(["answer=code"])
    write_sft(tmp_path / "s.jsonl", [ex])
    assert read_sft(tmp_path / "s.jsonl") == [ex]
    (tmp_path / "bad.jsonl").write_text('{"prompt": "no id"}\n')
    with pytest.raises(UserError):
        read_sft(tmp_path / "bad.jsonl")


def test_import_splits_one_response_field_into_reasoning_and_program():
    text = ("<think>Loop once.\n```\nnot the answer\n```\nThen return.</think>\n"
            "```python\ndef f(x):\n    return x\n```\nDone.")
    records = [{"q": "Identity.", "out": text}, {"q": "No code.", "out": "I cannot."}]
    mapping = parse_mapping(["prompt=q", "response=out"])
    [ex] = import_records(records, mapping, "toy")  # the record without a program block is left out
    assert ex.solution == "def f(x):\n    return x\n"
    assert ex.reasoning.startswith("Loop once.") and ex.reasoning.endswith("Then return.") and "<think>" not in ex.reasoning


def test_decontamination_drops_overlap_with_eval_text():
    eval_prompt = "Write a function to find the shared elements from the given two lists of integers please."
    clean = SFTExample("a", "Write a function that reverses a string.", "", "def r(s): return s[::-1]")
    leaked = SFTExample("b", "Task: " + eval_prompt, "", "pass")
    kept, dropped = decontaminate([clean, leaked], [eval_prompt])
    assert kept == [clean] and dropped == ["b"]


def test_cli_data_synth_and_import(tmp_path):
    runner = CliRunner()
    out = tmp_path / "synth.jsonl"
    res = runner.invoke(data_app, ["synth", "--out", str(out), "--split", "validation", "--steps", "2"])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and all(r["reasoning"].strip().count(";") == 1 for r in rows)  # 2 steps, ";"-separated
    src = tmp_path / "src.jsonl"
    src.write_text(json.dumps({"question": "Sum a list.", "why": "loop", "code": "def s(x): return sum(x)"}) + "\n")
    res = runner.invoke(data_app, ["import", str(src), "--out", str(tmp_path / "imp.jsonl"), "--no-decontaminate",
                                   "--map", "prompt=question", "--map", "reasoning=why", "--map", "solution=code"])
    assert res.exit_code == 0, res.output
    assert read_sft(tmp_path / "imp.jsonl")[0].solution == "def s(x): return sum(x)"

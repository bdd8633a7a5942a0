"""`nfbench sweep`: every method's budget knob, CoT's forced answer, NF-CoT at K' latent steps, and a
whole sweep on the committed CI CoT model (one model load per method, one run per point, the figure)."""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nfbench.harness.errors import UserError
from nfbench.harness.registry import METHODS, get_method
from nfbench.harness.sweep import knob, parse_budgets

REPO = Path(__file__).resolve().parent.parent
COT = next((REPO / "ci" / "cache").glob("cot-*"))  # the committed CoT-SFT model: 100% on synth test[:100]
NFBENCH = str(Path(sys.executable).parent / "nfbench")
TASK = {"steps": 4}


def test_budget_lists():
    assert parse_budgets("1, 2,4,16") == [1, 2, 4, 16]
    for bad in ("1,x", "1,,2", "-1,2", "2,2", ""):
        with pytest.raises(UserError, match="--budget"):
            parse_budgets(bad)


def test_every_knob_is_an_int_option_of_its_method():
    with_knob = {name for name in METHODS.entries() if get_method(name).budget is not None}
    assert with_knob == {"cot", "coconut", "latent-sft", "nfcot", "soft-thinking", "pause"}
    for name in with_knob:
        cls = get_method(name)
        fields = {f.name: f for f in dataclasses.fields(cls.config_class)}
        assert cls.budget.option in fields, name
        assert fields[cls.budget.option].default is None, name  # unset: the method's own default
        assert fields[cls.budget.option].metadata["help"], name
    with pytest.raises(UserError, match="no thinking-budget knob") as err:
        knob("direct")
    assert "nfcot" in err.value.fix


@pytest.mark.parametrize("args, message", [
    (["-m", "direct", "--budget", "1,2"], "method 'direct' has no thinking-budget knob"),
    (["-m", "nfcott", "--budget", "1"], "nfcot"),
    (["-m", "cot", "--budget", "1,two"], "bad --budget"),
    (["-m", "nfcot", "--budget", "0,1"], "below nfcot's minimum"),
    (["-m", "cot", "-m", "nfcot", "--budget", "1", "--set", "method_config.t_z=0"], "several methods"),
    (["-m", "cot", "--budget", "1", "--checkpoint", "nfcot=x"], "not swept"),
])
def test_bad_input_is_one_line(results_dir, args, message):
    proc = subprocess.run([NFBENCH, "sweep", "--task", "synth", "--sandbox", "local", *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and message in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr
    assert not (results_dir / "runs").exists()  # nothing was written


def _cot_generations(budget, limit=8):
    from nfbench.harness.config import RunConfig, load_config
    from nfbench.harness.pipeline import decoding, open_generator, open_task
    from nfbench.methods.base import generate

    cfg = load_config(RunConfig, None, {"method": "cot", "task": "synth", "backbone": "tiny-llama", "checkpoint": str(COT),
                                        "task_options": TASK, "batch_size": 4, "max_new_tokens": 64,
                                        "method_config": {"max_reasoning_tokens": budget}})
    task = open_task("synth", None, TASK)
    return generate(open_generator(cfg, task), task.problems("test")[:limit], 1, 0, decoding(cfg))


@pytest.mark.slow
def test_cot_budget_forces_the_answer(results_dir):
    free, roomy, tight = _cot_generations(None), _cot_generations(64), _cot_generations(6)
    # a budget the chains never reach changes nothing: same text, same positions
    assert [g.raw_output for g in roomy] == [g.raw_output for g in free]
    assert [g.cost.reasoning_positions for g in roomy] == [g.cost.reasoning_positions for g in free]
    assert all(g.cost.reasoning_positions == len(g.reasoning) for g in free)  # character tokens
    assert min(g.cost.reasoning_positions for g in free) > 6
    for g in tight:  # cut at 6 tokens: the marker is fed and the answer still decoded
        assert g.cost.reasoning_positions == 6 and g.reasoning == free[tight.index(g)].reasoning[:6] + "\n"
        # the answer is decoded after the fed newline (what a cut chain makes the model write is its business)
        assert g.raw_output.startswith(g.reasoning) and g.cost.answer_tokens > 0 and "return" in g.raw_output
        assert g.extra["reasoning_budget"] == 6


def test_nfcot_samples_k_prime_latents_and_says_what_it_means():
    from nfbench.harness.cost import CostMeter
    from nfbench.methods.nfcot import NFCoT
    from nfbench.methods.nfcot.decode import sample
    from test_nfcot_mechanism import _model, _prompts

    model = _model()  # trained shape: K=4
    ids, mask = _prompts()
    for k in (2, 4, 6):
        meter = CostMeter(model.backbone.config, ids.shape[0], torch.device("cpu"), torch.float32)
        out = sample(model, ids, mask, t_z=0.0, temperature=0.0, top_p=1.0, max_new_tokens=3, stop_ids={2},
                     pad_id=0, generator=torch.Generator().manual_seed(0), meter=meter, slots=k)
        assert out.latents.shape[1] == k and [c.reasoning_positions for c in meter.results()] == [k] * 3
    # greedy latents are a prefix of each other: K' < K is the first K' of the same chain
    short = sample(model, ids, mask, t_z=0.0, temperature=0.0, top_p=1.0, max_new_tokens=1, stop_ids={2},
                   pad_id=0, generator=torch.Generator(), slots=2).latents
    full = sample(model, ids, mask, t_z=0.0, temperature=0.0, top_p=1.0, max_new_tokens=1, stop_ids={2},
                  pad_id=0, generator=torch.Generator()).latents
    assert torch.allclose(short, full[:, :2], atol=1e-5)
    method, info = NFCoT(NFCoT.config_class()), {"train_config": {"method_config": {"slots": 8}}}
    assert method.budget_note(info, 8) is None
    assert "trained at K=8, run at K'=4" in method.budget_note(info, 4)
    assert "continues past the last trained slot" in method.budget_note(info, 12)


@pytest.mark.slow
@pytest.mark.docker
def test_sweep_runs_every_point_with_one_model_load(results_dir, monkeypatch, capsys):
    from nfbench.harness import backbone
    from nfbench.harness.report import build_report
    from nfbench.harness.sweep import run_sweep, table, write_figure
    from nfbench.harness.thoughts import inspect_run

    loads = []
    real = backbone.load_backbone
    monkeypatch.setattr(backbone, "load_backbone", lambda *a, **k: loads.append(a[0]) or real(*a, **k))
    overrides = {"task": "synth", "backbone": "tiny-llama", "limit": 12, "task_options": TASK, "max_new_tokens": 48}
    points = run_sweep(["cot", "soft-thinking"], [2, 40], None, overrides,
                       {"cot": str(COT), "soft-thinking": str(COT)})
    assert len(loads) == 2  # one per method, not per point
    assert [(p.method, p.value) for p in points] == [("cot", 2), ("cot", 40), ("soft-thinking", 2), ("soft-thinking", 40)]
    assert len({p.path for p in points}) == 4 and all(p.path.parent == results_dir / "runs" for p in points)
    pass1 = {(p.method, p.value): p.summary["pass_at_k"]["base"]["1"]["value"] for p in points}
    assert pass1[("cot", 40)] >= 0.9 > pass1[("cot", 2)]  # the trained chain needs ~24 tokens
    assert points[1].summary["budget"] == {"option": "max_reasoning_tokens", "value": 40,
                                           "unit": "text reasoning tokens (then the answer is forced)",
                                           "note": points[1].budget["note"]}
    assert "cot capped at 40" in table(points)
    assert write_figure(points, results_dir / "sweep")[0].name == "budget_sweep.png"
    # `nfbench report` reads the points as ordinary runs: one row each, and draws the figure too
    html = build_report([str(results_dir / "runs")], results_dir / "report", echo=False).read_text()
    assert (results_dir / "report" / "budget_sweep.png").is_file()
    assert "cot [max_reasoning_tokens=2]" in html and "soft-thinking [max_thinking_steps=40]" in html
    assert "<b>cot at 2</b>: cot capped at 2 reasoning tokens" in html  # what each point means, under the figure
    # the full chain reproduces every value of the ground truth, the cut one almost none
    assert "values reproduced: top-1 48/48" in inspect_run(points[1].path)
    assert "whole chains 0/12" in inspect_run(points[0].path)

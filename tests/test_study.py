"""`nfbench study` on a cut-down study file: trains, runs through the Docker sandbox, resumes without
retraining, and writes the seed table and the claims; the claim checks on rows made by hand."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nfbench.harness.errors import UserError
from nfbench.harness.study import load_study, pick, run_study
from nfbench.harness.study_report import aggregate, check_claim

TINY = "trainer: {lr: 1.0e-3, batch_size: 8, max_steps: 4, warmup_steps: 1, eval_problems: 0, log_every: 2}\n"


def write_study(tmp: Path, suites=("synth",)) -> Path:
    for suite in suites:
        (tmp / suite).mkdir(parents=True, exist_ok=True)
        for method in ("cot", "direct"):
            (tmp / suite / f"{method}.yaml").write_text(
                f"method: {method}\nbackbone: tiny-llama\ndata: synth\ntask_options: {{steps: 2}}\n{TINY}")
    study = tmp / "study.yaml"
    study.write_text(
        f"name: t\nsuites: {list(suites)}\nseeds: [0, 1]\nevaluation: {{split: test, limit: 2, sandbox: docker}}\n"
        "decodings: {greedy: {n_samples: 1, temperature: 0.0}}\n"
        "members:\n  - {method: cot}\n  - {method: direct}\n  - {method: soft-thinking, runs_on: cot}\n"
        "claims:\n  - {claim: soft thinking >= cot, suites: [synth], member: soft-thinking, against: cot}\n")
    return study


def test_bad_study_files_are_one_line(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_study(tmp_path / "missing.yaml")
    study = write_study(tmp_path, suites=("synth",))
    (tmp_path / "synth" / "direct.yaml").unlink()
    with pytest.raises(UserError, match="no config for direct on synth"):
        load_study(study)
    study = write_study(tmp_path)
    with pytest.raises(UserError, match="unknown study seed"):
        pick(load_study(study), None, None, [7])
    # a member named alone brings what it runs on
    _, members, _ = pick(load_study(study), None, ["soft-thinking"], None)
    assert [m.name for m in members] == ["cot", "soft-thinking"]


def test_members_on_some_suites(tmp_path):
    """A member with `suites:` needs configs only there, and what it needs must be there too."""
    study = write_study(tmp_path, suites=("synth", "graph"))
    (tmp_path / "graph" / "direct.yaml").unlink()
    text = study.read_text()
    with pytest.raises(UserError, match="no config for direct on graph"):
        load_study(study)
    study.write_text(text.replace("{method: direct}", "{method: direct, suites: [synth]}"))
    loaded = load_study(study)
    assert [m.name for m in loaded.members if m.on("graph")] == ["cot", "soft-thinking"]
    study.write_text(text.replace("{method: direct}", "{method: direct, suites: [prosqa]}"))
    with pytest.raises(UserError, match="suites \\['prosqa'\\] the study does not have"):
        load_study(study)
    study.write_text(text.replace("{method: direct}", "{method: direct, suites: [synth]}")
                     .replace("{method: soft-thinking, runs_on: cot}", "{method: soft-thinking, runs_on: direct}"))
    with pytest.raises(UserError, match="soft-thinking is on graph but direct, which it needs, is not"):
        load_study(study)


def row(suite, seed, member, p1, positions, decoding="greedy", pk=None):
    return {"suite": suite, "seed": seed, "member": member, "decoding": decoding, "pass1_base": p1,
            "passk_base": pk, "reasoning_positions_mean": positions, "k_base": 8 if pk is not None else None,
            "flops_mean": 1.0, "seconds_mean": 0.1}


def test_claims_are_decided_on_the_numbers():
    rows = [row("synth", 0, "cot", 0.9, 24), row("synth", 1, "cot", 0.8, 24),
            row("synth", 0, "nfcot", 0.95, 4), row("synth", 1, "nfcot", 0.7, 4)]
    mean_claim = {"claim": "x", "suites": ["synth"], "member": "nfcot", "against": "cot", "positions_ratio": 0.25}
    # seed means: 0.825 vs 0.85 -> fails; with a 5-point margin it holds; every_seed fails on seed 1
    assert check_claim(mean_claim, rows)[0] == "fails"
    assert check_claim({**mean_claim, "pass1_margin": 0.05}, rows)[0] == "holds"
    assert check_claim({**mean_claim, "pass1_margin": 0.05, "every_seed": True}, rows)[0] == "fails"
    assert check_claim({**mean_claim, "pass1_margin": 0.05, "positions_ratio": 0.1}, rows)[0] == "fails"
    assert check_claim({**mean_claim, "suites": ["graph"]}, rows)[0] == "not measured"
    assert check_claim({**mean_claim, "suites": ["synth", "graph"], "pass1_margin": 0.05}, rows)[0] == "partly measured"
    grpo = [row("synth", 0, "a", 0.5, 4, "sampled", 0.9), row("synth", 0, "b", 0.4, 4, "sampled", 0.95)]
    claim = {"claim": "y", "suites": ["synth"], "member": "a", "against": "b", "decoding": "sampled",
             "pass1_raise": True, "passk_margin": 0.0}
    assert check_claim(claim, grpo)[0] == "fails"  # pass@8 dropped
    assert check_claim({**claim, "passk_margin": 0.1}, grpo)[0] == "holds"
    agg = aggregate(rows)
    nf = next(r for r in agg if r["member"] == "nfcot")
    assert nf["n_seeds"] == 2 and abs(nf["pass1_base_mean"] - 0.825) < 1e-9 and nf["pass1_base_sd"] > 0.17


@pytest.mark.docker
@pytest.mark.slow
def test_study_trains_runs_resumes_and_reports(tmp_path):
    study = write_study(tmp_path / "cfg")
    out = tmp_path / "out"
    assert run_study(study, out=out, seeds=[0], methods=["soft-thinking"]) == 0  # with the cot it runs on
    progress = [json.loads(line) for line in (out / "progress.jsonl").read_text().splitlines()]
    assert [(p["step"], p["member"]) for p in progress] == [
        ("train", "cot"), ("run", "cot"), ("run", "soft-thinking")]
    for member in ("cot", "soft-thinking"):
        assert (out / "runs" / "synth" / "seed0" / f"{member}-greedy" / "summary.json").is_file()
    table = (out / "study.md").read_text()
    assert "| synth | cot | greedy | 1 |" in table and "| synth | soft-thinking | greedy | 1 |" in table
    assert "soft thinking >= cot" in (out / "claims.md").read_text()
    assert (out / "report" / "greedy-seed0" / "report.html").is_file()
    # the evidence: the trained member's loss from its metrics.csv, what its text thoughts reproduce
    evidence = (out / "evidence.md").read_text()
    cot_line = next(line for line in evidence.splitlines() if "| cot |" in line)
    first, last = (float(x) for x in re.search(r"sft ([\d.e+-]+) → ([\d.e+-]+)", cot_line).groups())
    assert first > last > 0 and "% of values" in cot_line
    assert (out / "loss_curves.png").stat().st_size > 1000
    # again: nothing is retrained; the finished runs resume as finished
    assert run_study(study, out=out, seeds=[0], methods=["soft-thinking"]) == 0
    again = [json.loads(line) for line in (out / "progress.jsonl").read_text().splitlines()][len(progress):]
    assert [p["step"] for p in again] == ["run", "run"]
    assert not (out / "runs" / "synth" / "seed0" / "direct-greedy").exists()

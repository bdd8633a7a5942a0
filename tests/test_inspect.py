"""`nfbench inspect`: the chain-value fidelity measure, what the generators record per latent (on tiny
random Llamas), the command's output and errors, and the report's Thoughts section."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nfbench.harness.metrics import summarise
from nfbench.harness.store import EXECUTIONS, GENERATIONS, MANIFEST, SUMMARY, RunStore
from nfbench.harness.thoughts import aligned_fidelity, choose, text_fidelity
from nfbench.harness.types import Cost, Generation, Verdict
from nfbench.tasks.synth import SynthTask

NFBENCH = str(Path(sys.executable).parent / "nfbench")
TASK = {"steps": 4}


def test_text_fidelity_counts_values_in_place():
    truth = "2-2=0;0+7=7;7-6=1;1-8=3"
    assert (lambda f: (f.values, f.top1, f.exact))(text_fidelity(truth, truth)) == (4, 4, 1)
    f = text_fidelity(truth, "2-2=0;0-7=7;7-6=2;1-8=3")  # a wrong operand does not count, a wrong value does
    assert (f.values, f.top1, f.exact) == (4, 3, 0)
    assert text_fidelity(truth, "7;0;1;3").top1 == 0  # values must be results ("=v"), in their step
    assert text_fidelity(truth, "2-2=3;0+7=0").top1 == 0


def test_aligned_fidelity_uses_the_latent_of_each_value():
    truth = "1+1=2;2+2=4"  # 11 characters over 2 latents: "1+1=2" -> latent 0, ";2+2=4" -> latent 1
    steps = [[["2", 0.6], ["1", 0.4]], [["5", 0.7], ["4", 0.3]]]
    f = aligned_fidelity(truth, steps, by_step=False)
    assert (f.values, f.top1, f.topk, f.exact) == (2, 1, 2, 0)
    swapped = aligned_fidelity(truth, steps[::-1], by_step=False)  # values in the wrong latents
    assert (swapped.top1, swapped.topk) == (0, 0)
    by_step = aligned_fidelity(truth, [[["2", 1.0]], [["4", 1.0]]], by_step=True)
    assert (by_step.top1, by_step.exact) == (2, 1)


def test_choice_is_deterministic_and_mixes_solved_and_failed():
    by_problem = {f"p{i}": [({}, {"base_status": "pass" if i % 3 else "fail"})] for i in range(12)}
    picked = choose(by_problem, 4)
    assert picked == choose(dict(reversed(list(by_problem.items()))), 4) and len(picked) == 4
    statuses = [by_problem[t][0][1]["base_status"] for t in picked]
    assert statuses.count("pass") == 2 and statuses.count("fail") == 2
    assert len(choose({"a": [({}, {"base_status": "pass"})]}, 4)) == 1


def _write_run(root: Path, method: str, extras: list[dict], reasoning: list[str | None]) -> Path:
    """A finished run of `method` on synth test problems 0..n-1, with the given per-sample records."""
    problems = SynthTask(None, **TASK).problems("test")[:len(extras)]
    store = RunStore.create(root / f"synth-{method}")
    gens = [Generation(p.task_id, 0, p.prompt, p.canonical_solution, p.canonical_solution, r,
                       Cost(reasoning_positions=4), {**e, "format": "compact"}) for p, e, r in zip(problems, extras, reasoning)]
    verdicts = [Verdict(p.task_id, 0, "pass" if i % 2 == 0 else "fail", None) for i, p in enumerate(problems)]
    store.write_json(MANIFEST, {"config": {"method": method, "task": "synth", "backbone": "tiny-llama",
                                           "task_options": TASK, "split": "test"}})
    store.append(GENERATIONS, [g.to_dict() for g in gens])
    store.append(EXECUTIONS, [v.to_dict() for v in verdicts])
    summary = summarise([g.to_dict() for g in gens], [v.to_dict() for v in verdicts], [1])
    store.write_json(SUMMARY, {"run_id": store.path.name, "method": method, "task": "synth", "backbone": "tiny-llama",
                               "split": "test", "n_samples_per_problem": 1, "temperature": 0.0, **summary})
    return store.path


def test_inspect_shows_decoded_latents_and_scores_them(tmp_path):
    chains = [p.reasoning for p in SynthTask(None, **TASK).problems("test")[:4]]
    wrong_last = chains[1][:-1] + str((int(chains[1][-1]) + 1) % 10)
    nfcot = _write_run(tmp_path, "nfcot", [
        {"decoded_thoughts": text, "latent_logp_per_step": [-1.5, -2.25, -3.0, -0.5], "latent_logp": -7.25,
         "latent_steps": 4, "trained_latent_steps": 4, "latent_dim": 16, "t_z": 0.0}
        for text in (chains[0], wrong_last, chains[2], chains[3])], [None] * 4)
    proc = subprocess.run([NFBENCH, "inspect", str(nfcot), "--problem", "synth/test/1"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "fidelity over the run: values reproduced: top-1 15/16 (93.8%)" in proc.stdout
    assert "whole chains 3/4" in proc.stdout
    assert f"decoded (F^-1, VAE decoder): {wrong_last!r}" in proc.stdout and f"truth: {chains[1]!r}" in proc.stdout
    assert "per latent -1.50 -2.25 -3.00 -0.50" in proc.stdout and "values reproduced: 3/4 (top-1)" in proc.stdout
    assert "synth/test/0" not in proc.stdout  # only the problem asked for

    # Latent-SFT: each latent's top tokens with weights; a value counts where its aligned latent holds it
    mixtures = [[[[c, 0.9], ["x", 0.1]] for c in chain[4::6]] for chain in chains]  # latent t <- step t's value
    lsft = _write_run(tmp_path, "latent-sft", [{"readout": {"mixture": m}, "latent_steps": 4, "n_eff": 1.2, "top_k": 10,
                                                 "effective_compression_rate": 2.0, "latent_top1": ""} for m in mixtures], [""] * 4)
    out = subprocess.run([NFBENCH, "inspect", str(lsft), "--n", "2", "--tokens", "2"], capture_output=True, text=True).stdout
    assert "N_eff 1.20" in out and f"'{chains[0][4]}' 0.90  'x' 0.10" in out
    assert out.count("truth:") == 2 and "fidelity over the run: values reproduced: top-1 16/16" in out

    for args, message in (([str(nfcot), "--problem", "synth/test/99"], "has no samples of synth/test/99"),
                          ([str(tmp_path)], "not a finished run")):
        bad = subprocess.run([NFBENCH, "inspect", *args], capture_output=True, text=True)
        assert bad.returncode == 2 and message in bad.stderr and bad.stderr.count("\n") == 1

    from nfbench.harness.report import build_report

    html = build_report([str(nfcot), str(lsft)], tmp_path / "report", echo=False).read_text()
    assert 'id="thoughts"' in html and "nfcot on synth: values reproduced: top-1 15/16" in html


@pytest.mark.slow
def test_generators_record_their_latents_readouts(results_dir, tmp_path):
    from nfbench.harness.backbone import load_backbone
    from nfbench.harness.config import RunConfig, load_config
    from nfbench.harness.pipeline import decoding, open_generator, open_task
    from nfbench.methods.base import generate
    from nfbench.methods.readout import READOUT_TOKENS

    ckpt = load_backbone("tiny-llama", device="cpu", seed=3).save(tmp_path / "cot")  # random weights
    task = open_task("synth", None, TASK)
    problems = task.problems("test")[:3]

    def run(method, **mc):
        cfg = load_config(RunConfig, None, {"method": method, "task": "synth", "backbone": "tiny-llama", "checkpoint": str(ckpt),
                                            "task_options": TASK, "max_new_tokens": 8, "method_config": mc})
        return generate(open_generator(cfg, task), problems, 1, 0, decoding(cfg))

    for g in run("coconut", n_latents=3):
        views = g.extra["readout"]
        assert len(views["lm_head"]) == len(views["embedding"]) == 3
        for head, emb in zip(views["lm_head"], views["embedding"]):
            probs, sims = [w for _, w in head], [w for _, w in emb]
            assert len(head) == READOUT_TOKENS and probs == sorted(probs, reverse=True) and sum(probs) <= 1.0001
            assert sims == sorted(sims, reverse=True) and all(-1.0001 <= s <= 1.0001 for s in sims)
    for g in run("latent-sft", max_latents=5):
        mixture = g.extra["readout"]["mixture"]
        assert len(mixture) == g.extra["latent_steps"] == g.cost.reasoning_positions
        assert "".join(step[0][0] for step in mixture) == g.extra["latent_top1"]  # the heaviest token is the top-1
        assert all(0.0 < sum(w for _, w in step) <= 1.0001 for step in mixture)
    for g in run("soft-thinking", max_thinking_steps=4):
        mixture = g.extra["readout"]["mixture"]
        assert len(mixture) == g.extra["concept_tokens"]
        assert all(sum(w for _, w in step) <= 1.0001 and len(step) <= READOUT_TOKENS for step in mixture)

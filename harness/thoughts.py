"""`nfbench inspect RUN`: what a run's thoughts say, as faithfully as each method allows, read from what
its generator recorded per sample (harness/types.Generation.extra; methods/readout.py) — nothing
is recomputed and torch is never imported:

  cot, soft-thinking  the reasoning text (Soft Thinking's: each concept token's top-1) and, for
                      concept tokens, the mixture each one was made of
  nfcot               the latents decoded to text (F^-1, then the frozen VAE decoder) with each latent's
                      log-likelihood under the NF head
  latent-sft          each latent's superposition: its heaviest vocabulary tokens with their weights, N_eff
  coconut             each continuous thought's nearest tokens under the LM head and the input embeddings
  pause, direct       nothing to read (fixed embeddings, or no reasoning)

On tasks whose problems carry a ground-truth chain (synth), every sample is also scored on how many of
the chain's values its thoughts reproduce in place (`fidelity`): text-like thoughts (a chain of
thought, NF-CoT's decoded text, Soft Thinking's top-1 string) step by step; superposed latents by the
fixed-length alignment the Latent-SFT paper uses for ECR (chain characters split evenly over the
latents; the tiny backbone's tokens are characters), Coconut's thoughts one per reasoning step (its
curriculum replaces step s by thought s).

The readings are chosen here by method name rather than by hooks on the Method classes because those
modules import torch (through their generators) and the report must not (tests/test_report_build.py):
a new method that records thoughts adds its branch to `thoughts` and `fidelity`, or reads as nothing.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nfbench.harness.errors import UserError
from nfbench.harness.report.load import Run, load_run

VALUE = re.compile(r"=\s*(-?\d+)")
TEXT_METHODS = ("cot", "soft-thinking", "nfcot")


@dataclass
class Fidelity:
    """Ground-truth chain values reproduced in place: by the best reading (top-1) and among the tokens
    recorded per latent (top-k; = top-1 for text)."""

    values: int = 0
    top1: int = 0
    topk: int = 0
    chains: int = 0  # samples with a reference chain
    exact: int = 0  # samples whose every value is reproduced (top-1)

    def add(self, other: Fidelity) -> None:
        for f in ("values", "top1", "topk", "chains", "exact"):
            setattr(self, f, getattr(self, f) + getattr(other, f))

    def describe(self) -> str:
        if not self.values:
            return "no ground-truth chain values to compare with"
        pct = lambda n: f"{n}/{self.values} ({100 * n / self.values:.1f}%)"  # noqa: E731
        return (f"values reproduced: top-1 {pct(self.top1)}, among recorded tokens {pct(self.topk)}; "
                f"whole chains {self.exact}/{self.chains}")


def chain_values(text: str) -> list[tuple[int, str]]:
    """(character index, value) of every `=value` of a chain: the intermediate results."""
    return [(m.start(1), m.group(1)) for m in VALUE.finditer(text or "")]


def text_fidelity(reference: str, text: str) -> Fidelity:
    """Step i's value of the thoughts' text equals step i's of the reference."""
    truth, got = [v for _, v in chain_values(reference)], [v for _, v in chain_values(text)]
    hits = sum(a == b for a, b in zip(truth, got))
    return Fidelity(len(truth), hits, hits, 1, int(hits == len(truth) and len(truth) > 0))


def aligned_fidelity(reference: str, steps: list[list[list[Any]]], by_step: bool) -> Fidelity:
    """A value counts where its latent (by fixed-length alignment) has it as top-1 / among its tokens."""
    truth = chain_values(reference)
    m = len(steps)
    if not truth or not m:
        return Fidelity(len(truth), 0, 0, 1 if truth else 0, 0)
    top1 = topk = 0
    for s, (pos, value) in enumerate(truth):
        t = (s * m) // len(truth) if by_step else min(m - 1, (pos * m) // max(1, len(reference)))
        tokens = [str(tok).strip() for tok, _ in steps[t]]
        top1 += bool(tokens) and tokens[0] == value
        topk += value in tokens
    return Fidelity(len(truth), top1, topk, 1, int(top1 == len(truth)))


def fidelity(method: str, gen: dict[str, Any], reference: str) -> Fidelity | None:
    """The sample's score, None where the method records nothing to read against the chain."""
    extra, views = gen.get("extra") or {}, (gen.get("extra") or {}).get("readout") or {}
    if method == "nfcot":
        text = extra.get("decoded_thoughts")
        return None if text is None else text_fidelity(reference, text)
    if method in ("cot", "soft-thinking"):
        return text_fidelity(reference, gen.get("reasoning") or "")
    if method == "latent-sft" and "mixture" in views:
        return aligned_fidelity(reference, views["mixture"], by_step=False)
    if method == "coconut" and "lm_head" in views:
        return aligned_fidelity(reference, views["lm_head"], by_step=True)
    return None


# --- reading one run --------------------------------------------------------------------------------
def references(run: Run) -> dict[str, str]:
    """task_id -> ground-truth chain, where the run's task has them (opened as the run was)."""
    from nfbench.harness.pipeline import open_task

    config = run.manifest.get("config") or {}
    try:
        task = open_task(config.get("task") or run.task, config.get("data_dir"), config.get("task_options") or {})
        problems = task.problems(config.get("split"))
    except (UserError, OSError):
        return {}
    return {p.task_id: p.reasoning for p in problems if p.reasoning}


def samples(run: Run) -> dict[str, list[tuple[dict[str, Any], dict[str, Any] | None]]]:
    verdicts = {(v["task_id"], v["sample_idx"]): v for v in run.verdicts}
    out: dict[str, list[tuple[dict[str, Any], dict[str, Any] | None]]] = {}
    for g in sorted(run.generations, key=lambda g: g["sample_idx"]):
        out.setdefault(g["task_id"], []).append((g, verdicts.get((g["task_id"], g["sample_idx"]))))
    return out


def choose(by_problem: dict[str, list[tuple[dict, dict | None]]], n: int) -> list[str]:
    """n problems, half solved (first sample passes) and half failed where there are enough, in an
    order fixed by a hash of their ids (deterministic, and not just the first ids)."""
    order = sorted(by_problem, key=lambda t: hashlib.sha256(t.encode()).hexdigest())
    passed = lambda t: (by_problem[t][0][1] or {}).get("base_status") == "pass"  # noqa: E731
    solved, failed = [t for t in order if passed(t)], [t for t in order if not passed(t)]
    take = min(len(solved), max(n - len(failed), (n + 1) // 2))
    return solved[:take] + failed[:n - take]


def tokens_line(step: list[list[Any]], k: int) -> str:
    return "  ".join(f"{tok!r} {w:.2f}" for tok, w in step[:k])


def thoughts(method: str, gen: dict[str, Any], k: int) -> list[str]:
    """The lines that show one sample's thoughts."""
    extra = gen.get("extra") or {}
    views = extra.get("readout") or {}
    if method == "nfcot":
        lp = extra.get("latent_logp_per_step") or []
        lines = [f"latents: {extra.get('latent_steps')} of dim {extra.get('latent_dim')} (trained K="
                 f"{extra.get('trained_latent_steps', extra.get('latent_steps'))}), t_z={extra.get('t_z')}",
                 f"log p(u|q): {extra.get('latent_logp', 0.0):.2f} total; per latent " + " ".join(f"{x:.2f}" for x in lp)]
        text = extra.get("decoded_thoughts")
        lines.append(f"decoded (F^-1, VAE decoder): {text!r}" if text is not None else
                     "decoded: not recorded (K' < K, or decode_thoughts off: --set method_config.decode_thoughts=true)")
        return lines
    if method == "latent-sft":
        lines = [f"latents: {extra.get('latent_steps')}, N_eff {extra.get('n_eff') or 0:.2f}, ECR@{extra.get('top_k')} "
                 f"{extra.get('effective_compression_rate') or 0:.2f}, top-1 string {extra.get('latent_top1')!r}"]
        return lines + [f"  {i + 1:3d}  {tokens_line(s, k)}" for i, s in enumerate(views.get("mixture") or [])]
    if method == "coconut":
        lines = [f"continuous thoughts: {extra.get('latents')} (+{extra.get('text_reasoning_tokens', 0)} text tokens)"]
        for i, (head, emb) in enumerate(zip(views.get("lm_head") or [], views.get("embedding") or [])):
            lines.append(f"  {i + 1:3d}  LM head: {tokens_line(head, k)}   |   nearest embedding: {tokens_line(emb, k)}")
        return lines
    if method == "soft-thinking":
        lines = [f"concept tokens: {extra.get('concept_tokens')} (stopped by {extra.get('stopped_by')}), "
                 f"top-1 text {gen.get('reasoning')!r}"]
        return lines + [f"  {i + 1:3d}  {tokens_line(s, k)}" for i, s in enumerate(views.get("mixture") or [])]
    if method == "cot":
        return [f"reasoning: {gen.get('reasoning')!r}"]
    return [f"nothing to read: {gen.get('reasoning') or 'no reasoning'}"]


def sample_text(method: str, gen: dict[str, Any], verdict: dict[str, Any] | None, reference: str | None,
                k: int) -> list[str]:
    status = (verdict or {}).get("base_status", "not executed")
    positions = (gen.get("cost") or {}).get("reasoning_positions")
    lines = [f"{gen['task_id']} #{gen['sample_idx']}: {status}, {positions} reasoning positions"]
    if reference:
        lines.append(f"truth: {reference!r}")
    lines += thoughts(method, gen, k)
    score = fidelity(method, gen, reference) if reference else None
    if score is not None:
        lines.append(f"values reproduced: {score.top1}/{score.values} (top-1), {score.topk}/{score.values} (recorded tokens)")
    lines.append(f"program: {gen.get('solution', '').strip()!r}")
    return ["  " + line if i else line for i, line in enumerate(lines)]


def run_fidelity(run: Run, refs: dict[str, str]) -> Fidelity | None:
    total, scored = Fidelity(), False
    for g in run.generations:
        ref = refs.get(g["task_id"])
        score = fidelity(run.key[0], g, ref) if ref else None
        if score is not None:
            total.add(score)
            scored = True
    return total if scored else None


def describe_run(run: Run, problems: list[str] | None = None, n: int = 4, tokens: int = 3,
                 refs: dict[str, str] | None = None) -> str:
    method = run.key[0]
    by_problem = samples(run)
    if problems:
        missing = [p for p in problems if p not in by_problem]
        if missing:
            raise UserError(f"{run.path} has no samples of {missing[0]}", f"its problems: {', '.join(sorted(by_problem)[:5])}, ...")
    chosen = problems or choose(by_problem, n)
    refs = references(run) if refs is None else refs
    head = [f"{run.path.name}: {method} on {run.task} ({len(by_problem)} problems)"
            + (f", {run.budget_label}" if run.budget else "")]
    if run.budget.get("note"):
        head.append(f"  budget: {run.budget['note']}")
    score = run_fidelity(run, refs)
    if score is not None:
        head.append(f"  fidelity over the run: {score.describe()}")
    body = [line for t in chosen for g, v in by_problem[t] for line in sample_text(method, g, v, refs.get(t), tokens)]
    return "\n".join(head + [""] + body)


def inspect_run(path: Path, problems: list[str] | None = None, n: int = 4, tokens: int = 3) -> str:
    if not (Path(path) / "summary.json").is_file():
        raise UserError(f"{path} is not a finished run (no summary.json)", "pass a run directory (`nfbench ls runs`)")
    if n < 1 or tokens < 1:
        raise UserError("--n and --tokens must be at least 1", "e.g. nfbench inspect RUN --n 4 --tokens 3")
    return describe_run(load_run(Path(path)), problems, n, tokens)

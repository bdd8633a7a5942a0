"""Small, valid run stores for the report and regress tests (the format harness/pipeline.py writes).

The records go through the real RunStore, record types and metrics.summarise, so a change to the
store format breaks these tests too.
"""
from __future__ import annotations

import random
from pathlib import Path

from nfbench.harness.metrics import summarise
from nfbench.harness.store import EXECUTIONS, GENERATIONS, MANIFEST, SUMMARY, RunStore
from nfbench.harness.types import Cost, Generation, Verdict

# method -> (probability a sample passes, mean reasoning positions)
PROFILES = {"direct": (0.2, 0), "cot": (0.7, 30), "coconut": (0.5, 6), "nfcot": (0.75, 8)}
LATENT = {"coconut", "latent-sft", "nfcot", "soft-thinking"}  # record a latent summary, not text
# Programs of different structure (what the diversity measures see) that all compute the same thing.
VARIANTS = ("def f(xs):\n    return sum(x * {p} for x in xs)\n",
            "def f(xs):\n    total = 0\n    for x in xs:\n        total += x * {p}\n    return total\n",
            "def f(xs):\n    return {p} * sum(xs)\n",
            "def f(xs):\n    # scale, then add\n    ys = [x * {p} for x in xs]\n    return sum(ys)\n",
            "import functools\n\ndef f(xs):\n    return functools.reduce(lambda a, x: a + {p} * x, xs, 0)\n")
BROKEN = "def f(xs):\n    return xs[0] *\n"


def problem_text(task: str, p: int) -> str:
    """A HumanEval-sized (about 450 characters) problem statement."""
    return (f'def f(xs: list[int]) -> int:\n    """Problem {task}/{p}: return the sum of the numbers in xs, each '
            f'multiplied by {p}.\n    The list may be empty, in which case the answer is 0.\n\n'
            f"    >>> f([1, 2, 3])\n    {6 * p}\n    >>> f([])\n    0\n    >>> f([-1, 1])\n    0\n"
            f'    """\n    # the <body> & "quotes" must survive HTML escaping\n')


def reasoning_text(method: str, p: int, positions: int, rng: random.Random) -> str | None:
    if method == "direct":
        return None
    if method in LATENT:
        tops = " ".join(rng.choice(["sum", "x", "*", str(p), "for", "return"]) for _ in range(min(positions, 8)))
        return f"[{positions} latent thoughts] nearest tokens: {tops}"
    steps = [f"Step {i + 1}: each number is multiplied by {p} and the running total grows by it." for i in
             range(max(1, positions // 14))]
    return "\n".join(steps)


def write_run(root: Path, method: str, task: str = "synth", backbone: str = "tiny-llama", *,
              p_pass: float | None = None, positions: float | None = None, n_problems: int = 12,
              n_samples: int = 4, plus: bool = False, seed: int = 0, checkpoint: str | None = None,
              variants: int = 3, expected_got: bool = False) -> Path:
    """One finished run. `variants`: how many program shapes a method's samples are drawn from;
    `expected_got`: failing verdicts also carry `expected` / `got` (as a sandbox that records them would)."""
    base_p, base_pos = PROFILES.get(method, (0.5, 10))
    p_pass = base_p if p_pass is None else p_pass
    positions = base_pos if positions is None else positions
    rng = random.Random(f"{method}/{task}/{backbone}/{seed}")
    text = random.Random(f"text/{method}/{task}/{backbone}/{seed}")  # contents: apart from pass/fail draws
    run_id = f"{method}-{task}-{backbone}-{seed}"
    store = RunStore.create(root / run_id)
    gens, verdicts = [], []
    for p in range(n_problems):
        prompt = ("Think step by step, then answer.\n" if method == "cot" else "") + problem_text(task, p)
        for s in range(n_samples):
            pos = max(0, round(rng.gauss(positions, positions / 5 + 0.01)))
            cost = Cost(prompt_tokens=40, reasoning_positions=pos, answer_tokens=20,
                        forward_passes=pos + 20, flops=2e6 * (60 + pos), reasoning_seconds=0.01 * pos,
                        answer_seconds=0.2, peak_memory_bytes=50_000_000 + 10_000 * pos,
                        kv_cache_bytes=1000 * (40 + pos))
            ok = rng.random() < p_pass
            status = "pass" if ok else "fail"
            plus_status = ("pass" if ok and rng.random() < 0.9 else "fail") if plus else None
            broken = not ok and text.random() < 0.3
            solution = BROKEN if broken else VARIANTS[text.randrange(min(variants, len(VARIANTS)))].format(p=p)
            reasoning = reasoning_text(method, p, pos, text)
            extra = {"log_likelihood": [round(text.gauss(-2, 1), 3) for _ in range(min(pos, 16))]} if method == "nfcot" else {}
            gens.append(Generation(f"{task}/{p}", s, prompt, f"{reasoning or ''}\n```python\n{solution}```",
                                   solution, reasoning, cost, extra).to_dict())
            verdict = Verdict(f"{task}/{p}", s, status, plus_status).to_dict()
            if status != "pass" or plus_status == "fail":
                verdict["base_fail_test" if status != "pass" else "plus_fail_test"] = text.randrange(3)
                verdict["detail"] = "SyntaxError: invalid syntax" if broken else "AssertionError"
                if expected_got and not broken:
                    verdict.update(expected=str(6 * p), got=str(6 * p - 1 - text.randrange(5)))
            verdicts.append(verdict)
    store.append(GENERATIONS, gens)
    store.append(EXECUTIONS, verdicts)
    config = {"method": method, "task": task, "backbone": backbone, "n_samples": n_samples, "temperature": 0.8}
    store.write_json(MANIFEST, {"run_id": run_id, "created": f"2026-11-21T00:00:{seed:02d}",
                                "command": ["nfbench", "run"], "config": config,
                                "git": {"commit": "0123456789abcdef", "dirty": False},
                                "model": {"checkpoint": checkpoint}})
    summary = summarise(gens, verdicts, ks=[1, 2, 4, 8])
    store.write_json(SUMMARY, {"run_id": run_id, "method": method, "task": task, "backbone": backbone,
                               "split": "test", "n_samples_per_problem": n_samples, "temperature": 0.8,
                               **summary})
    return store.path


def write_suite(root: Path) -> list[Path]:
    """Four methods on synth, two of them also on a task with plus tests whose verdicts record the
    first failing test's expected and actual values."""
    paths = [write_run(root, m, variants={"direct": 1, "nfcot": 5}.get(m, 3)) for m in PROFILES]
    paths += [write_run(root, m, task="humaneval", backbone="smollm2-135m", plus=True, expected_got=True)
              for m in ("cot", "nfcot")]
    return paths


# The size the HTML report must stay usable at: HumanEval (164 problems) x 6 methods x 8 samples.
LARGE = {"direct": (0.2, 0), "cot": (0.55, 240), "coconut": (0.35, 6), "latent-sft": (0.4, 16),
         "nfcot": (0.5, 64), "soft-thinking": (0.45, 32)}


def write_large(root: Path, n_problems: int = 164, n_samples: int = 8) -> list[Path]:
    return [write_run(root, m, task="humaneval", backbone="smollm2-135m", p_pass=p, positions=pos,
                      n_problems=n_problems, n_samples=n_samples, plus=True, expected_got=True, variants=5)
            for m, (p, pos) in LARGE.items()]

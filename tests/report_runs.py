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


def write_run(root: Path, method: str, task: str = "synth", backbone: str = "tiny-llama", *,
              p_pass: float | None = None, positions: float | None = None, n_problems: int = 12,
              n_samples: int = 4, plus: bool = False, seed: int = 0, checkpoint: str | None = None) -> Path:
    base_p, base_pos = PROFILES.get(method, (0.5, 10))
    p_pass = base_p if p_pass is None else p_pass
    positions = base_pos if positions is None else positions
    rng = random.Random(f"{method}/{task}/{backbone}/{seed}")
    run_id = f"{method}-{task}-{backbone}-{seed}"
    store = RunStore.create(root / run_id)
    gens, verdicts = [], []
    for p in range(n_problems):
        for s in range(n_samples):
            pos = max(0, round(rng.gauss(positions, positions / 5 + 0.01)))
            cost = Cost(prompt_tokens=40, reasoning_positions=pos, answer_tokens=20,
                        forward_passes=pos + 20, flops=2e6 * (60 + pos), reasoning_seconds=0.01 * pos,
                        answer_seconds=0.2, peak_memory_bytes=50_000_000 + 10_000 * pos,
                        kv_cache_bytes=1000 * (40 + pos))
            gens.append(Generation(f"{task}/{p}", s, "q", "out", "def f(x):return x", None, cost).to_dict())
            ok = rng.random() < p_pass
            status = "pass" if ok else "fail"
            plus_status = ("pass" if ok and rng.random() < 0.9 else "fail") if plus else None
            verdicts.append(Verdict(f"{task}/{p}", s, status, plus_status).to_dict())
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
    """Four methods on synth, two of them also on a task with plus tests."""
    paths = [write_run(root, m) for m in PROFILES]
    paths += [write_run(root, m, task="humaneval", backbone="smollm2-135m", plus=True) for m in ("cot", "nfcot")]
    return paths

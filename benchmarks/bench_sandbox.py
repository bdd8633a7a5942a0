"""evalplus.evaluate vs nfbench's Docker sandbox on the same HumanEval+ / MBPP+ samples.

One invocation runs both evaluators on the same samples file, caches cold for both (evalplus's
ground-truth cache and nfbench's expected-output cache live in fresh temp dirs), and prints wall
seconds, the ratio, per-sample agreement of base/plus verdicts and every disagreement.

    flock /tmp/nfbench-heavy.lock nice .venv/bin/python benchmarks/bench_sandbox.py --suite canonical
    flock /tmp/nfbench-heavy.lock nice .venv/bin/python benchmarks/bench_sandbox.py --suite mixed

--suite canonical: every problem's canonical solution (the speed target: >= 4x on MBPP+).
--suite mixed:     one sample per problem, cycling through the canonical solution and the mutants of
                   benchmarks/mutants.py (wrong operator, off-by-one, exceptions, infinite loop,
                   syntax error, huge stdout, missing return).
The sandbox image must be built first (`nfbench sandbox build`); container start-up is included.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from evalplus_problems import data_path, load  # noqa: E402
from mutants import MUTANTS, mutate  # noqa: E402

TASK_NAMES = {"mbpp": "mbpp+", "humaneval": "humaneval+"}
ENV_OVERRIDE = {"mbpp": "MBPP_OVERRIDE_PATH", "humaneval": "HUMANEVAL_OVERRIDE_PATH"}


def make_samples(dataset: str, suite: str) -> list[dict]:
    kinds = ["canonical", *MUTANTS] if suite == "mixed" else ["canonical"]
    out = []
    for i, p in enumerate(load(dataset)):
        kind = kinds[i % len(kinds)]
        code = p.canonical_solution if kind == "canonical" else mutate(p.canonical_solution, p.entry_point, kind)
        if kind != "canonical" and (code is None or code == p.canonical_solution):  # does not apply here
            kind, code = "returns_none", mutate(p.canonical_solution, p.entry_point, "returns_none")
        out.append({"task_id": p.task_id, "solution": code, "kind": kind})
    return out


def run_evalplus(dataset: str, samples: Path, workdir: Path, parallel: int | None) -> tuple[float, dict, str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(workdir / "evalplus-cache"),
           ENV_OVERRIDE[dataset]: str(data_path(dataset))}
    code = ("from evalplus.evaluate import evaluate; "
            f"evaluate({dataset!r}, samples={str(samples)!r}, parallel={parallel!r}, i_just_wanna_run=True)")
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        sys.exit(f"evalplus failed:\n{res.stderr[-3000:]}")
    results = json.loads(samples.with_name(samples.stem + "_eval_results.json").read_text())["eval"]
    verdicts = {(tid, i): (r["base_status"], r["plus_status"])
                for tid, rs in results.items() for i, r in enumerate(rs)}
    gt = re.search(r"Expected outputs computed in ([\d.]+)s", res.stdout)
    return wall, verdicts, gt.group(1) if gt else "?"


OURS_FALLBACK = """
import json, sys
sys.path.insert(0, {here!r})
from evalplus_problems import load
from nfbench.sandbox.executor import Sandbox
problems = {{p.task_id: p for p in load({dataset!r})}}
jobs, counts = [], {{}}
for line in open({samples!r}):
    s = json.loads(line)
    idx = counts[s["task_id"]] = counts.get(s["task_id"], -1) + 1
    jobs.append((problems[s["task_id"]], idx, s["solution"]))
with Sandbox(workers={workers!r}) as sb, open({out!r}, "w") as f:
    for v in sb.execute(jobs):
        f.write(json.dumps(v.to_dict()) + "\\n")
"""


def _task_registered(dataset: str) -> bool:
    from nfbench.harness.registry import TASKS

    return TASK_NAMES[dataset] in TASKS.names()


def run_ours(dataset: str, samples: Path, workdir: Path, workers: int | None) -> tuple[float, dict, str]:
    env = {**os.environ, "NFBENCH_CACHE_DIR": str(workdir / "nfbench-cache"),
           "NFBENCH_DATA_DIR": os.environ.get("NFBENCH_DATA_DIR") or str(data_path(dataset).parents[1])}
    out_dir = workdir / "nfbench-run"
    if _task_registered(dataset):
        how = f"nfbench eval --task {TASK_NAMES[dataset]}"
        cmd = [str(Path(sys.executable).with_name("nfbench")), "eval", "--task", TASK_NAMES[dataset],
               "--samples", str(samples), "--out", str(out_dir)] + (["--workers", str(workers)] if workers else [])
        executions = out_dir / "executions.jsonl"
    else:
        how = "Sandbox.execute (fallback loader; tasks/ has no evalplus task yet)"
        executions = workdir / "executions.jsonl"
        code = OURS_FALLBACK.format(here=str(HERE), dataset=dataset, samples=str(samples),
                                    workers=workers, out=str(executions))
        cmd = [sys.executable, "-c", code]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        sys.exit(f"nfbench failed:\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}")
    verdicts = {}
    for line in executions.read_text().splitlines():
        v = json.loads(line)
        verdicts[(v["task_id"], v["sample_idx"])] = (v["base_status"], v["plus_status"], v.get("detail", ""))
    return wall, verdicts, how


def tests_cpu_seconds(cache: Path) -> float:
    """Seconds the canonical solutions spend in the tests themselves (from the ground-truth cache)."""
    from nfbench.sandbox.expected import safe_loads

    total = 0.0
    for f in (cache / "expected").glob("*.pkl"):
        gt = safe_loads(f.read_bytes())
        total += sum(gt["base_time"]) + sum(gt["plus_time"])
    return total


def cpu_seconds() -> tuple[float, ...]:
    """Machine-wide CPU seconds so far: busy, idle, stolen by the hypervisor (zeros off Linux).
    Steal shows a noisy neighbour; nfbench's busy seconds, next to the floor, its own overhead."""
    try:
        f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return (0.0, 0.0, 0.0)
    hz = os.sysconf("SC_CLK_TCK")
    return ((f[0] + f[1] + f[2] + f[5] + f[6]) / hz, (f[3] + f[4]) / hz, f[7] / hz)


def compare(samples: list[dict], ep: dict, ours: dict) -> tuple[int, list[str], Counter]:
    idx: Counter = Counter()
    agree, lines, table = 0, [], Counter()
    for s in samples:
        key = (s["task_id"], idx[s["task_id"]])
        idx[s["task_id"]] += 1
        e, o = ep[key], ours[key]
        table[(s["kind"], e[0], o[0], e[1], o[1])] += 1
        same = (e[0] == "pass") == (o[0] == "pass") and (e[1] == "pass") == (o[1] == "pass")
        agree += same
        if not same:
            lines.append(f"  {key[0]} [{s['kind']}] evalplus base/plus={e[0]}/{e[1]} "
                         f"nfbench={o[0]}/{o[1]} ({o[2]})")
    return agree, lines, table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="mbpp,humaneval")
    ap.add_argument("--suite", choices=["canonical", "mixed"], default="canonical")
    ap.add_argument("--workers", type=int, default=None, help="nfbench sandbox workers (default: CPU count)")
    ap.add_argument("--evalplus-parallel", type=int, default=None, help="evalplus workers (default: its own)")
    args = ap.parse_args()
    for dataset in args.datasets.split(","):
        with tempfile.TemporaryDirectory(prefix="nfbench-bench-") as tmp:
            work = Path(tmp)
            samples = make_samples(dataset, args.suite)
            path = work / f"{dataset}-{args.suite}.jsonl"
            path.write_text("".join(json.dumps({"task_id": s["task_id"], "solution": s["solution"]}) + "\n"
                                    for s in samples))
            c0 = cpu_seconds()
            t_ep, ep, ep_gt = run_evalplus(dataset, path, work, args.evalplus_parallel)
            print(f"[{dataset}] evalplus.evaluate: {t_ep:.1f} s", flush=True)
            c1 = cpu_seconds()
            t_ours, ours, how = run_ours(dataset, path, work, args.workers)
            c2 = cpu_seconds()
            floor = tests_cpu_seconds(work / "nfbench-cache")
            agree, lines, table = compare(samples, ep, ours)
        cores = os.cpu_count() or 1
        print(f"\n== {TASK_NAMES[dataset]} / {args.suite}: {len(samples)} samples "
              f"({dict(Counter(s['kind'] for s in samples))})")
        print(f"evalplus.evaluate (parallel={args.evalplus_parallel or 'default'}): {t_ep:7.1f} s wall "
              f"(of which expected outputs: {ep_gt} s)")
        print(f"nfbench sandbox ({how}): {t_ours:7.1f} s wall")
        # evalplus's stuck-checker thread sleeps in 20 s steps and the process waits for it at exit
        print(f"speed-up: {t_ep / t_ours:.2f}x (conservative, evalplus minus its <= 20 s exit wait: "
              f"{max(t_ep - 20, 0) / t_ours:.2f}x)")
        print(f"tests' own CPU time (canonical solutions on all inputs): {floor:.1f} s; cold-cache floor "
              f"= (ground truth + checks) / {cores} cores ~ {2 * floor / cores:.1f} s wall "
              f"-> nfbench is at {t_ours / max(2 * floor / cores, 1e-9):.2f}x the floor")
        used = [" / ".join(f"{b - a:.1f}" for a, b in zip(x, y)) for x, y in ((c0, c1), (c1, c2))]
        print(f"machine CPU seconds busy / idle / stolen: during evalplus {used[0]}, during nfbench {used[1]}")
        print(f"agreement (base and plus pass/not-pass): {agree}/{len(samples)} = {agree / len(samples):.4f}")
        print("status table (kind, evalplus base, nfbench base, evalplus plus, nfbench plus): count")
        for row, n in sorted(table.items()):
            print(f"  {row}: {n}")
        if lines:
            print("disagreements:\n" + "\n".join(lines))


if __name__ == "__main__":
    main()

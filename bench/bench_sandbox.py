"""evalplus.evaluate vs nfbench's Docker sandbox on the same HumanEval+ / MBPP+ samples.

One invocation runs both evaluators on the same samples file and prints wall seconds, the ratio,
nfbench's distance to the floor, per-sample agreement of base/plus verdicts, pass@k of both and
every disagreement. Caches start cold (evalplus's ground-truth cache and nfbench's expected-output
cache live in fresh temp dirs); `--warm` runs both a second time on their warm caches.

    flock /tmp/nfbench-heavy.lock nice .venv/bin/python bench/bench_sandbox.py --suite many --warm
    flock /tmp/nfbench-heavy.lock nice .venv/bin/python bench/bench_sandbox.py --suite many --warm --skip-mode \\
        --datasets mbpp --limit 100      # a slice: evalplus gets the release file cut to those problems
    flock /tmp/nfbench-heavy.lock nice .venv/bin/python bench/bench_sandbox.py --suite canonical
    flock /tmp/nfbench-heavy.lock nice .venv/bin/python bench/bench_sandbox.py --suite mixed
    flock /tmp/nfbench-heavy.lock nice .venv/bin/python bench/bench_sandbox.py --suite samples \\
        --datasets humaneval --samples bench/data/humaneval-plus-smollm2-135m-cot-n4.jsonl
    flock /tmp/nfbench-heavy.lock nice .venv/bin/python bench/bench_sandbox.py --suite attacks

--suite canonical: every problem's canonical solution.
--suite mixed:     one sample per problem, cycling through the canonical solution and the mutants of
                   tests/mutants.py (wrong operator, off-by-one, exceptions, infinite loop,
                   syntax error, huge stdout, missing return).
--suite many:      --per-task samples per problem (default 10): half canonical, half mutants (an
                   infinite loop only in every 10th problem: each costs its limit in both evaluators).
--suite samples:   a samples file of real model outputs (--samples).
--skip-mode:       also times nfbench with --skip-plus-after-base-fail (its floor: the tests it ran).
--suite attacks:   tests/sandbox_attacks.py's wrong solutions that try to forge a pass; evalplus runs
                   each in its own PID namespace (`unshare`, root only: some attacks kill every
                   process they can), and both evaluators' verdicts are printed per attack.
The floor is what an evaluator with no overhead needs: the ground truth's own seconds (cold runs)
plus, per sample and phase, the ground-truth seconds of the tests the sample ran (up to its first
failure; a test that timed out counts its limit), over the cores. The sandbox image must be built
first (`nfbench sandbox build`); container start-up is included.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from mutants import MUTANTS, mutate  # noqa: E402

TASK_NAMES = {"mbpp": "mbpp+", "humaneval": "humaneval+"}
ENV_OVERRIDE = {"mbpp": "MBPP_OVERRIDE_PATH", "humaneval": "HUMANEVAL_OVERRIDE_PATH"}
CORES = os.cpu_count() or 1


def data_path(dataset: str) -> Path:
    """The release file `nfbench eval` reads (evalplus is pointed at the same one)."""
    from nfbench.tasks.data import data_file

    return data_file(TASK_NAMES[dataset])


def load(dataset: str) -> list:
    """The problems as `nfbench eval` loads them (the production loader)."""
    from nfbench.harness.registry import get_task

    return get_task(TASK_NAMES[dataset])().problems()


def make_samples(dataset: str, suite: str, per_task: int, limit: int | None = None) -> list[dict]:
    problems, out = load(dataset)[:limit], []
    wrong = [k for k in MUTANTS if k != "infinite_loop"]
    for i, p in enumerate(problems):
        if suite == "canonical":
            kinds = ["canonical"]
        elif suite == "mixed":
            kinds = [(["canonical", *MUTANTS])[i % (len(MUTANTS) + 1)]]
        else:
            n_wrong = per_task // 2
            kinds = ["canonical"] * (per_task - n_wrong) + [wrong[(i + j) % len(wrong)] for j in range(n_wrong)]
            if i % 10 == 0:
                kinds[-1] = "infinite_loop"
        for kind in kinds:
            code = p.canonical_solution if kind == "canonical" else mutate(p.canonical_solution, p.entry_point, kind)
            if kind != "canonical" and (code is None or code == p.canonical_solution):  # does not apply here
                kind, code = "returns_none", mutate(p.canonical_solution, p.entry_point, "returns_none")
            out.append({"task_id": p.task_id, "solution": code, "kind": kind})
    return out


def write_samples(path: Path, samples: list[dict]) -> Path:
    path.write_text("".join(json.dumps({"task_id": s["task_id"], "solution": s["solution"]}) + "\n" for s in samples))
    return path


def sliced_data(dataset: str, limit: int, where: Path) -> Path:
    """The release file cut to its first `limit` problems (evalplus computes the ground truth of every
    problem of its dataset, and wants a sample of each: with --limit it gets this file)."""
    import gzip

    lines = gzip.decompress(data_path(dataset).read_bytes()).decode().splitlines(keepends=True)[:limit]
    out = where / data_path(dataset).name
    out.write_bytes(gzip.compress("".join(lines).encode()))
    return out


def run_evalplus(dataset: str, samples: Path, cache: Path, parallel: int, isolate: bool = False,
                 timeout: float | None = None, data: Path | None = None) -> tuple[float, dict]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), ENV_OVERRIDE[dataset]: str(data or data_path(dataset))}
    code = ("from evalplus.evaluate import evaluate; "
            f"evaluate({dataset!r}, samples={str(samples)!r}, parallel={parallel!r}, i_just_wanna_run=True)")
    cmd = [sys.executable, "-c", code]
    if isolate:  # its own PID namespace: a sample's kill(-1) reaches only that namespace
        cmd = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", *cmd]
    t0 = time.perf_counter()
    try:
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return time.perf_counter() - t0, {"hung": True}
    wall = time.perf_counter() - t0
    result = samples.with_name(samples.stem + "_eval_results.json")
    if res.returncode != 0 or not result.exists():
        if isolate:
            return wall, {"crashed": (res.stderr or res.stdout)[-300:]}
        sys.exit(f"evalplus failed:\n{res.stderr[-3000:]}")
    results = json.loads(result.read_text())["eval"]
    result.unlink()
    return wall, {(tid, i): (r["base_status"], r["plus_status"], "")
                  for tid, rs in results.items() for i, r in enumerate(rs)}


def run_ours(dataset: str, samples: Path, cache: Path, out_dir: Path, workers: int | None,
             exe: str | None = None, flags: tuple[str, ...] = ()) -> tuple[float, dict]:
    env = {**os.environ, "NFBENCH_CACHE_DIR": str(cache),
           "NFBENCH_DATA_DIR": os.environ.get("NFBENCH_DATA_DIR") or str(data_path(dataset).parents[1])}
    cmd = [exe or str(Path(sys.executable).with_name("nfbench")), "eval", "--task", TASK_NAMES[dataset],
           "--samples", str(samples), "--out", str(out_dir), *flags] + (["--workers", str(workers)] if workers else [])
    t0 = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        sys.exit(f"nfbench failed:\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}")
    verdicts = {}
    for line in (out_dir / "executions.jsonl").read_text().splitlines():
        v = json.loads(line)
        verdicts[(v["task_id"], v["sample_idx"])] = (v["base_status"], v["plus_status"], v.get("detail", ""),
                                                     v.get("base_fail_test"), v.get("plus_fail_test"))
    return wall, verdicts


def floor_seconds(cache: Path, dataset: str, verdicts: dict, cold: bool) -> float:
    """The tests' own seconds (see the module docstring), from nfbench's ground-truth cache."""
    from nfbench.sandbox.expected import problem_key, safe_loads

    problems = {p.task_id: p for p in load(dataset)}
    times = {}
    for tid, p in problems.items():
        f = cache / "expected" / f"{problem_key(p)}.pkl"
        if f.exists():
            gt = safe_loads(f.read_bytes())
            times[tid] = {ph: gt[f"{ph}_time"] for ph in ("base", "plus")}
    total = sum(sum(t["base"]) + sum(t["plus"]) for t in times.values()) if cold else 0.0
    for (tid, _idx), v in verdicts.items():
        for ph, status, fail in (("base", v[0], v[3]), ("plus", v[1], v[4])):
            t = times.get(tid, {}).get(ph, [])
            if status == "pass":
                total += sum(t)
            elif status in ("fail", "timeout") and fail is not None and fail < len(t):
                total += sum(t[:fail])
                total += max(1.0, 4 * t[fail]) if status == "timeout" else t[fail]
    return total / CORES


def pass_at_k(verdicts: dict, part: str, ks=(1, 2, 4, 10)) -> dict:
    from evalplus.eval import estimate_pass_at_k

    per_task: dict[str, list[bool]] = defaultdict(list)
    for (tid, _), v in sorted(verdicts.items()):
        per_task[tid].append(v[0] == "pass" and (part == "base" or v[1] == "pass"))
    n = [len(v) for v in per_task.values()]
    c = [sum(v) for v in per_task.values()]
    return {k: round(float(estimate_pass_at_k(n, c, k).mean()), 6) for k in ks if min(n) >= k}


def compare(samples: list[dict], ep: dict, ours: dict) -> tuple[int, list[str], Counter]:
    idx: Counter = Counter()
    agree, lines, table = 0, [], Counter()
    for s in samples:
        key = (s["task_id"], idx[s["task_id"]])
        idx[s["task_id"]] += 1
        e, o = ep[key], ours[key]
        table[(s.get("kind", "sample"), e[0], o[0], e[1], o[1])] += 1
        same = (e[0] == "pass") == (o[0] == "pass") and (e[1] == "pass") == (o[1] == "pass")
        agree += same
        if not same:
            lines.append(f"  {key[0]}#{key[1]} [{s.get('kind', 'sample')}] evalplus base/plus={e[0]}/{e[1]} "
                         f"nfbench={o[0]}/{o[1]} ({o[2]})")
    return agree, lines, table


def cpu_seconds() -> tuple[float, ...]:
    """Machine-wide CPU seconds so far: busy, idle, stolen by the hypervisor (zeros off Linux)."""
    try:
        f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return (0.0, 0.0, 0.0)
    hz = os.sysconf("SC_CLK_TCK")
    return ((f[0] + f[1] + f[2] + f[5] + f[6]) / hz, (f[3] + f[4]) / hz, f[7] / hz)


def timed(fn, *args):
    c0 = cpu_seconds()
    wall, verdicts = fn(*args)
    return wall, verdicts, " / ".join(f"{b - a:.1f}" for a, b in zip(c0, cpu_seconds()))


def bench(dataset: str, samples: list[dict], args) -> None:
    with tempfile.TemporaryDirectory(prefix="nfbench-bench-") as tmp:
        work = Path(tmp)
        path = write_samples(work / f"{dataset}-{args.suite}.jsonl", samples)
        caches = args.caches / dataset if args.caches else work  # --caches: kept for a later --warm-only run
        ep_cache, our_cache = caches / "evalplus-cache", caches / "nfbench-cache"
        rows, old_rows, skip_rows = [], [], []
        data = sliced_data(dataset, args.limit, work) if args.limit else None
        temps = ("warm",) if args.warm_only else ("cold", "warm") if args.warm else ("cold",)
        for temp in temps:
            t_ep, ep, cpu_ep = timed(run_evalplus, dataset, path, ep_cache, args.evalplus_parallel, False, None, data)
            print(f"[{dataset}] evalplus.evaluate ({temp}): {t_ep:.1f} s", flush=True)
            t_ours, ours, cpu_ours = timed(run_ours, dataset, path, our_cache, work / f"run-{temp}", args.workers)
            print(f"[{dataset}] nfbench ({temp}): {t_ours:.1f} s", flush=True)
            rows.append((temp, t_ep, t_ours, floor_seconds(our_cache, dataset, ours, temp == "cold"), cpu_ep, cpu_ours))
            if args.skip_mode:  # the documented non-exact mode, on a cache of its own in the same state
                skip_cache = caches / "nfbench-skip-cache"
                t_skip, skip, cpu_skip = timed(run_ours, dataset, path, skip_cache, work / f"skip-{temp}", args.workers,
                                               None, ("--skip-plus-after-base-fail",))
                print(f"[{dataset}] nfbench --skip-plus-after-base-fail ({temp}): {t_skip:.1f} s", flush=True)
                same = pass_at_k(skip, "plus") == pass_at_k(ours, "plus") and pass_at_k(skip, "base") == pass_at_k(ours, "base")
                skip_rows.append((temp, t_ep, t_skip, floor_seconds(skip_cache, dataset, skip, temp == "cold"),
                                  cpu_skip, same))
            if temp == temps[0]:
                agree, lines, table = compare(samples, ep, ours)
                passk = {part: (pass_at_k(ep, part), pass_at_k(ours, part)) for part in ("base", "plus")}
            if args.old_nfbench:  # another nfbench install (e.g. main's), same samples, same cache state
                t_old, _, cpu_old = timed(run_ours, dataset, path, caches / "old-cache", work / f"old-{temp}",
                                          args.workers, args.old_nfbench)
                print(f"[{dataset}] {args.old_nfbench} ({temp}): {t_old:.1f} s", flush=True)
                old_rows.append((temp, t_old, cpu_old))
    kinds = dict(Counter(s.get("kind", "sample") for s in samples))
    print(f"\n== {TASK_NAMES[dataset]} / {args.suite}: {len(samples)} samples ({kinds}), {CORES} cores, "
          f"evalplus --parallel {args.evalplus_parallel}")
    print("| caches | evalplus s | nfbench s | speed-up | floor s | nfbench / floor | evalplus / floor |"
          " CPU busy/idle/stolen (evalplus; nfbench) |")
    print("|---|---|---|---|---|---|---|---|")
    for temp, t_ep, t_ours, floor, cpu_ep, cpu_ours in rows:
        print(f"| {temp} | {t_ep:.1f} | {t_ours:.1f} | {t_ep / t_ours:.2f}x | {floor:.1f} | "
              f"{t_ours / max(floor, 1e-9):.2f}x | {t_ep / max(floor, 1e-9):.2f}x | {cpu_ep}; {cpu_ours} |")
    for temp, t_ep, t_skip, floor, cpu_skip, same in skip_rows:
        print(f"| {temp}, --skip-plus-after-base-fail | {t_ep:.1f} | {t_skip:.1f} | {t_ep / t_skip:.2f}x | {floor:.1f} | "
              f"{t_skip / max(floor, 1e-9):.2f}x (its own floor: the tests it ran) | - | ; {cpu_skip} |"
              f" pass@k {'identical' if same else 'DIFFERENT'}")
    for (temp, t_old, cpu_old), row in zip(old_rows, rows):
        print(f"{args.old_nfbench} ({temp}): {t_old:.1f} s ({row[2] / t_old:.2f}x of its time; CPU {cpu_old})")
    print(f"agreement (base and plus pass/not-pass): {agree}/{len(samples)} = {agree / len(samples):.4f}")
    for part, (e, o) in passk.items():
        print(f"pass@k {part}: evalplus {e}  nfbench {o}  {'identical' if e == o else 'DIFFERENT'}")
    print("status table (kind, evalplus base, nfbench base, evalplus plus, nfbench plus): count")
    for row, n in sorted(table.items()):
        print(f"  {row}: {n}")
    if lines:
        print("disagreements:\n" + "\n".join(lines))


def attacks(args) -> None:
    """Both evaluators on tests/sandbox_attacks.py (the evalplus-runnable ones), one evalplus run
    per attack: the attack, then a correct solution of the same problem (evalplus wants a sample
    of every problem: the others get an empty program, which fails at once)."""
    from nfbench.harness.registry import get_task
    from nfbench.sandbox.executor import Sandbox
    from sandbox_attacks import ATTACKS, attack_code

    targets = [a for a in ATTACKS if a.task in ("humaneval+", "mbpp+")]
    problems = {}
    for task in {a.task for a in targets}:
        problems.update({(task, p.task_id): p for p in get_task(task)().problems()})
    ours = {}
    with Sandbox(workers=args.workers) as sb:
        jobs = [(problems[(a.task, a.task_id)], n, attack_code(a, problems[(a.task, a.task_id)]))
                for n, a in enumerate(targets)]
        for v in sb.execute(jobs):
            ours[v.sample_idx] = (v.base_status, v.plus_status, v.detail)
    print("| family | attack | problem | evalplus 0.3.1 base/plus | nfbench base/plus | nfbench detail |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="nfbench-attacks-") as tmp:
        for n, a in enumerate(targets):
            p = problems[(a.task, a.task_id)]
            dataset = "humaneval" if a.task == "humaneval+" else "mbpp"
            fillers = [{"task_id": tid, "solution": ""} for task, tid in problems if task == a.task and tid != p.task_id]
            path = write_samples(Path(tmp) / f"attack{n}.jsonl", [{"task_id": p.task_id, "solution": attack_code(a, p)},
                                                                   {"task_id": p.task_id, "solution": p.canonical_solution},
                                                                   *fillers])
            _, ep = run_evalplus(dataset, path, Path(tmp) / "cache", CORES, isolate=True, timeout=args.attack_timeout)
            e = ep.get((p.task_id, 0), ("hung" if "hung" in ep else "crashed", "", ""))
            control = ep.get((p.task_id, 1), ("-", "-"))
            o = ours[n]
            print(f"| {a.family} | {a.name} | {p.task_id} | {e[0]}/{e[1]} (control {control[0]}/{control[1]}) | "
                  f"{o[0]}/{o[1]} | {o[2][:90]} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="mbpp,humaneval")
    ap.add_argument("--suite", choices=["canonical", "mixed", "many", "samples", "attacks"], default="canonical")
    ap.add_argument("--per-task", type=int, default=10, help="samples per problem for --suite many")
    ap.add_argument("--samples", type=Path, help="samples file for --suite samples")
    ap.add_argument("--limit", type=int, help="only the first N problems (a quicker slice, e.g. to profile)")
    ap.add_argument("--skip-mode", action="store_true",
                    help="also time nfbench with --skip-plus-after-base-fail (plus tests only after a base pass)")
    ap.add_argument("--warm", action="store_true", help="run both evaluators again on their warm caches")
    ap.add_argument("--caches", type=Path, help="keep the caches here (default: a temp dir), for a later --warm-only")
    ap.add_argument("--warm-only", action="store_true", help="only the warm runs, on the caches of --caches")
    ap.add_argument("--workers", type=int, default=None, help="nfbench sandbox workers (default: CPU count)")
    ap.add_argument("--evalplus-parallel", type=int, default=CORES, help="evalplus workers (default: CPU count)")
    ap.add_argument("--attack-timeout", type=float, default=300.0, help="seconds before an evalplus run counts as hung")
    ap.add_argument("--old-nfbench", help="another nfbench executable to time on the same samples (e.g. main's)")
    args = ap.parse_args()
    if args.suite == "attacks":
        return attacks(args)
    for dataset in args.datasets.split(","):
        if args.suite == "samples":
            samples = [json.loads(line) for line in args.samples.read_text().splitlines() if line.strip()]
        else:
            samples = make_samples(dataset, args.suite, args.per_task, args.limit)
        bench(dataset, samples, args)


if __name__ == "__main__":
    main()

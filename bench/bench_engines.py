"""The sandbox across Docker engines: throughput with one engine vs two on this machine, and a soak.

    flock /tmp/nfbench-heavy.lock nice .venv/bin/python bench/bench_engines.py throughput [--per-task 4]
    flock /tmp/nfbench-heavy.lock nice .venv/bin/python bench/bench_engines.py soak --minutes 12   # repeat to resume

Both need root (a second dockerd: tests/second_engine.py, kept under /tmp/nfbench-engine2-bench).

throughput: the same samples (HumanEval+ and MBPP+, --per-task per problem: half canonical, half
  mutants of tests/mutants.py), after a warm-up (one sample per problem) that fills the ground-truth
  cache, run twice:
  on one engine with 2 workers (`default#2`), then on two engines with 1 worker each pinned to a core
  of its own (`default#1:0,<second>#1:1`): the same 2 cores and 2 workers in total, so the point is
  that the spread costs nothing and changes no verdict, not a speed-up (both engines share this
  machine). Prints wall seconds, executions/s, the ratio, jobs per engine, and verdict agreement.
soak: >= 20,000 executions of a hidden-test mix, n = 16 per task (HumanEval+, MBPP+, HumanEval,
  MBPP test, synth test; half canonical, half mutants, an infinite loop in every 10th problem) on
  both engines, one Sandbox for the whole piece, verdicts in a run store (`--out`) so that pieces
  resume. Prints per piece: executions, wall, host RSS of this process (at 10%, 50%, end, peak) and
  what is left afterwards: containers labelled nfbench.sandbox on either engine, child processes,
  files in the temp dir. Totals accumulate in <out>/soak.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from mutants import MUTANTS, mutate  # noqa: E402
from second_engine import SecondEngine  # noqa: E402

ENGINE2_ROOT = Path("/tmp/nfbench-engine2-bench")


def rss_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def workload(tasks: list[str], per_task: int) -> list[tuple]:
    """(problem, sample_idx, code, kind) for every problem of `tasks`: half canonical, half mutants."""
    from nfbench.harness.registry import get_task

    wrong = [k for k in MUTANTS if k != "infinite_loop"]
    jobs = []
    for name in tasks:
        task = get_task(name)()
        split = "test" if name in ("mbpp", "synth") else None
        for i, p in enumerate(task.problems(split)):
            kinds = ["canonical"] * (per_task - per_task // 2) + [wrong[(i + j) % len(wrong)]
                                                                   for j in range(per_task // 2)]
            if i % 10 == 0 and per_task > 1:
                kinds[-1] = "infinite_loop"
            for s, kind in enumerate(kinds):
                code = p.canonical_solution if kind == "canonical" else mutate(p.canonical_solution, p.entry_point, kind)
                if kind != "canonical" and (code is None or code == p.canonical_solution):
                    kind, code = "returns_none", mutate(p.canonical_solution, p.entry_point, "returns_none")
                jobs.append((p, s, code or "def nothing(): pass\n", f"{name}:{kind}"))
    return jobs


def execute(engines: str, jobs: list[tuple], stop_at: float | None = None, on_verdict=None) -> tuple[float, dict, dict]:
    """Run `jobs` on `engines`, one `execute` per task (task ids repeat across tasks: HumanEval and
    HumanEval+) in one Sandbox; (wall seconds, {(task, task_id, idx): statuses}, {engine: jobs})."""
    from nfbench.sandbox.executor import Sandbox

    by_task: dict[str, list] = {}
    for p, s, code, kind in jobs:
        by_task.setdefault(kind.split(":")[0], []).append((p, s, code))
    got = {}
    t0 = time.perf_counter()
    with Sandbox(engines=engines) as sb:
        for task, group in by_task.items():
            for v in sb.execute(group):
                got[(task, v.task_id, v.sample_idx)] = (v.base_status, v.plus_status)
                if on_verdict:
                    on_verdict(v, task)
                if stop_at and time.time() > stop_at:
                    break  # a piece ends: the rest resumes next time
            if stop_at and time.time() > stop_at:
                break
        per_engine = {e.label: e.jobs for e in sb.engines}
    return time.perf_counter() - t0, got, per_engine


def throughput(args: argparse.Namespace) -> None:
    jobs = workload(["humaneval+", "mbpp+"], args.per_task)
    with SecondEngine(ENGINE2_ROOT) as eng2:
        two = f"default#1:0,{eng2.url}#1:1"
        print(f"{len(jobs)} executions (HumanEval+ and MBPP+, {args.per_task} per task); 2 cores, 2 workers each way")
        first = [j for j in jobs if j[1] == 0]  # one sample per problem fills the ground-truth cache
        warm, _, _ = execute(two, first)  # (and loads the image onto the second engine)
        print(f"warm-up ({len(first)} executions, ground truth computed where not cached): {warm:.1f} s", flush=True)
        rows = {}
        for name, spec in (("one engine (default#2)", "default#2"), (f"two engines ({two})", two)):
            load0 = os.getloadavg()[0]
            wall, got, per = execute(spec, jobs)
            rows[name] = (wall, got, per)
            print(f"{name:60s} {wall:7.1f} s  {len(jobs) / wall:6.1f} executions/s  jobs per engine {per}  "
                  f"(load average {load0:.1f} -> {os.getloadavg()[0]:.1f}: ~2 is this run alone)", flush=True)
    (w1, g1, _), (w2, g2, _) = rows.values()
    same = sum(g1[k] == g2[k] for k in g1)
    print(f"two engines / one engine wall: {w2 / w1:.3f}  (same machine and cores: ~1.0 means the spread is free)")
    print(f"verdicts identical: {same}/{len(g1)}")


def leftovers(engines: list, tmp_dir: Path, keep_pid: int) -> dict:
    """Ours only: other sessions may run sandboxes on the same engine and temp dir meanwhile."""
    from nfbench.sandbox.containers import owner_label

    mine = f"label=nfbench.owner={owner_label()}"
    containers = sum(len(e.run("ps", "-aq", "--filter", mine).stdout.split()) for e in engines)
    children = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _ppid(p) == os.getpid()
                and int(p.name) != keep_pid]  # (the second dockerd is ours until the piece ends)
    tmp = sorted(os.listdir(tmp_dir))
    return {"containers": containers, "child_processes": len(children), "new_temp_files": tmp}


def _ppid(proc: Path) -> int | None:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def soak(args: argparse.Namespace) -> None:
    from nfbench.harness import store as st
    from nfbench.sandbox.engines import Engine

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    store = st.RunStore(out)
    jobs = workload(["humaneval+", "mbpp+", "humaneval", "mbpp", "synth"], 16)
    # HumanEval and HumanEval+ (MBPP, MBPP+) share task ids: a record's key names its task too
    done = {(r["task"], r["task_id"], r["sample_idx"]) for r in store.records(st.EXECUTIONS)}
    key = lambda j: (j[3].split(":")[0], j[0].task_id, j[1])  # noqa: E731
    todo = [j for j in jobs if key(j) not in done]
    print(f"soak: {len(jobs)} executions in all, {len(done)} already recorded, {len(todo)} to go", flush=True)
    if not todo:
        return report(out, len(jobs))
    private_tmp = Path(tempfile.mkdtemp(prefix="soak-tmp-", dir=out))  # whatever this piece leaves in TMPDIR
    os.environ["TMPDIR"] = tempfile.tempdir = str(private_tmp)
    samples, peak, stop = [], [rss_mb()], threading.Event()

    def watch() -> None:
        while not stop.wait(1.0):
            peak.append(rss_mb())

    threading.Thread(target=watch, daemon=True).start()
    kinds = {key(j): j[3].split(":")[1] for j in todo}
    n0 = len(done)

    def record(v, task: str) -> None:
        kind = kinds[(task, v.task_id, v.sample_idx)]
        store.append(st.EXECUTIONS, [{**v.to_dict(), "task": task, "kind": kind}])
        samples.append(rss_mb())

    with SecondEngine(ENGINE2_ROOT) as eng2:
        spec = f"default#1:0,{eng2.url}#1:1"
        wall, got, per = execute(spec, todo, stop_at=time.time() + args.minutes * 60, on_verdict=record)
        stop.set()
        time.sleep(2)  # containers and clients are gone a moment after close()
        left = leftovers([Engine(), Engine(eng2.url)], private_tmp, eng2.proc.pid)
    if not left["new_temp_files"]:
        private_tmp.rmdir()
    n = len(got)
    at = lambda f: samples[min(len(samples) - 1, int(f * len(samples)))] if samples else 0.0  # noqa: E731
    piece = {"executions": n, "wall_s": round(wall, 1), "load_avg_end": round(os.getloadavg()[0], 1), "rss_mb_10pct": round(at(0.1), 1),
             "rss_mb_50pct": round(at(0.5), 1), "rss_mb_end": round(at(0.999), 1), "rss_mb_peak": round(max(peak), 1),
             "jobs_per_engine": per, "leftovers": left, "statuses": dict(Counter(s for s, _ in got.values()))}
    print(json.dumps(piece), flush=True)
    log = json.loads((out / "soak.json").read_text()) if (out / "soak.json").exists() else {"pieces": []}
    log["pieces"].append({**piece, "recorded_before": n0})
    (out / "soak.json").write_text(json.dumps(log, indent=1) + "\n")
    report(out, len(jobs))


def report(out: Path, total: int) -> None:
    from nfbench.harness import store as st

    recs = st.RunStore(out).records(st.EXECUTIONS)
    pairs = Counter((r["task"], r["task_id"], r["sample_idx"]) for r in recs)
    log = json.loads((out / "soak.json").read_text()) if (out / "soak.json").exists() else {"pieces": []}
    pieces = log["pieces"]
    print(f"soak so far: {len(pairs)}/{total} executions recorded, duplicates {sum(c - 1 for c in pairs.values())}, "
          f"{len(pieces)} pieces, wall {sum(p['wall_s'] for p in pieces):.0f} s, "
          f"peak RSS {max((p['rss_mb_peak'] for p in pieces), default=0):.0f} MB, "
          f"leftovers {[p['leftovers'] for p in pieces if any(p['leftovers'].values())] or 'none'}")
    print("statuses:", dict(Counter(r["base_status"] for r in recs)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--per-task", type=int, default=4)
    s = sub.add_parser("soak")
    s.add_argument("--out", default="results/bench/soak")
    s.add_argument("--minutes", type=float, default=12.0, help="length of this piece (re-run to resume)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_engines.py needs root (it starts a second dockerd)")
    throughput(args) if args.cmd == "throughput" else soak(args)


if __name__ == "__main__":
    main()

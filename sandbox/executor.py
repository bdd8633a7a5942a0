"""Run untrusted solutions in a pool of long-lived sandbox workers and yield verdicts.

    with Sandbox() as sb:                      # docker; Sandbox("local") runs without Docker
        for verdict in sb.execute(jobs):       # jobs: (Problem, sample_idx, program text)
            ...

Scheduling: problems whose ground truth is not cached get a ground-truth job first (highest
priority, computed in parallel in the sandbox): evalplus problems their expected outputs and times,
assert problems their reference's seconds per assert (their per-assert limits scale with it, as
evalplus's do). A problem's samples are queued as soon as its ground truth is known, in batches
(schedule.batches), the slowest problems first, so that both cores stay busy to the end. Inside a
container the judge decides every verdict; samples run in candidate processes (container/).
"""
from __future__ import annotations

import atexit
import itertools
import json
import os
import pickle
import queue
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from nfbench.harness.errors import UserError
from nfbench.harness.types import Problem, Verdict
from nfbench.sandbox import engines as sandbox_engines
from nfbench.sandbox import image as sandbox_image
from nfbench.sandbox.expected import load_cached, payload, problem_key, store_expected
from nfbench.sandbox.schedule import PHASES, GroundTruth, assert_limits, batches, split
from nfbench.sandbox.containers import Limits, WorkerLost, WorkerProc, remove_stale

LOCAL_WARNING = """
######################################################################################
#  WARNING: --sandbox local runs generated code as YOUR USER on THIS machine, with   #
#  only rlimits and evalplus's reliability guard in the way. It is NOT a sandbox:    #
#  hostile or buggy code can read and delete your files and reach the network.       #
#  Use it only where Docker is impossible and the code is trusted.                   #
######################################################################################
"""
_STOP = (9, 0.0, 0, None)
TRACE = os.environ.get("NFBENCH_SANDBOX_TRACE")


def _results(futures: list[Future]) -> tuple[list, list[UserError]]:
    """The workers of `futures` (None for one that failed) and the UserErrors raised."""
    out, errors = [], []
    for f in futures:
        try:
            out.append(f.result())
        except UserError as e:
            out.append(None)
            errors.append(e)
    return out, errors


class Sandbox:
    def __init__(self, kind: str = "docker", workers: int | None = None, engines: str | list[str] | None = None,
                 **limits):
        if kind not in ("docker", "local"):
            raise UserError(f"unknown sandbox kind '{kind}'", "use 'docker' (default) or 'local'")
        try:
            self.limits = Limits(**limits)
        except TypeError as e:
            raise UserError(f"bad sandbox limit: {e}", f"known limits: {', '.join(Limits.__annotations__)}") from None
        self.kind = kind
        self.engines = sandbox_engines.parse(engines) if kind == "docker" else []
        self._default_workers = workers
        if not self.engines:  # this machine's engine (or a local subprocess): one worker per core
            # each worker on a core of its own: a judge and its candidate hand the CPU to each other
            # once per test, and on a shared busy core the wake-up waits (~38 us a test instead of ~11)
            cpus = sandbox_engines.default_cpus()
            n = max(1, workers or os.cpu_count() or 1)
            here = sandbox_engines.Engine()
            self._slots = [(here, cpus[i % len(cpus)]) for i in range(n)]
        else:
            self._slots = []  # filled by start() once each engine said how many CPUs it has
        self._image: str | None = None
        self._pool: list[WorkerProc | None] = []
        self._ids = itertools.count()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._left: Counter = Counter()  # jobs not yet handed to a worker, per payload
        self._starting: list[Future] = []  # workers being started in the background

    @property
    def n_workers(self) -> int:
        return len(self._slots) or sum(e.workers or 0 for e in self.engines) or 1

    # --- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> Sandbox:
        self.start(wait=False)  # the containers come up while the caller loads its problems
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self, wait: bool = True) -> None:
        """Check the engine and image, then start the workers; with wait=False they start in the
        background and execute() waits for them."""
        if not self._pool and not self._starting:
            if self.kind == "docker":
                if not sandbox_image.engine_running():
                    raise UserError("the Docker engine is not running", sandbox_image.SETUP_HINT)
                self._image = sandbox_image.image_id()
                if not self._image:
                    raise UserError(f"the sandbox image {sandbox_image.image_tag()} is not built",
                                    sandbox_image.BUILD_HINT)
                if self.engines:
                    sandbox_engines.connect(self.engines, self._default_workers)
                    sandbox_engines.distribute(self.engines, sandbox_image.image_tag(), sandbox_engines.Engine())
                    self._slots = [(e, e.cpus[i % len(e.cpus)]) for e in self.engines for i in range(e.workers)]
                for engine in self.engines or [sandbox_engines.Engine()]:
                    remove_stale(engine)
            else:
                print(LOCAL_WARNING, file=sys.stderr, flush=True)
            atexit.register(self.close)
            ex = ThreadPoolExecutor(self.n_workers)
            self._starting = [ex.submit(self._spawn, slot) for slot in range(self.n_workers)]
            ex.shutdown(wait=False)  # its threads end when their worker is up
        if wait and self._starting:
            self._pool, errors = _results(self._starting)
            self._starting = []
            if errors or any(w is None for w in self._pool):
                self.close()
                raise errors[0] if errors else UserError("the sandbox workers did not start",
                                                         "run `nfbench sandbox check`")

    def _spawn(self, slot: int) -> WorkerProc | None:
        if self._closed.is_set():
            return None
        engine, cpu = self._slots[slot]
        try:
            return WorkerProc(self.kind, self._image, self.limits, cpu=cpu, engine=engine)
        except WorkerLost as e:
            if e.status == "refused":  # the engine would run the sample with a limit not enforced
                raise UserError(e.detail, "fix that engine's kernel/cgroup setup, or leave it out of --sandbox-engines")
            print(f"sandbox: {e.detail}", file=sys.stderr)
            return None

    def close(self) -> None:
        """Stop every worker (and with it its container); safe to call twice."""
        self._closed.set()
        pool, self._pool = self._pool + _results(self._starting)[0], []
        self._starting = []
        with ThreadPoolExecutor(max(1, len(pool))) as ex:
            list(ex.map(lambda w: w and (w.kill() if w.busy else w.close()), pool))
        atexit.unregister(self.close)

    def image_id(self) -> str | None:
        return self._image

    # --- execution ---------------------------------------------------------------------------
    def execute(self, jobs: Iterable[tuple[Problem, int, str]]) -> Iterator[Verdict]:
        """Yield one Verdict per job, in the order they finish."""
        self.start(wait=False)
        problems: dict[str, Problem] = {}
        samples: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for problem, idx, code in jobs:
            key = problem_key(problem)
            problems[key] = problem
            samples[key].append((idx, code))
        work: queue.PriorityQueue = queue.PriorityQueue()
        results: queue.Queue = queue.Queue()
        seq = itertools.count()
        payloads: dict[str, bytes] = {}
        truths: dict[str, GroundTruth] = {}
        costs: dict[str, float] = {}  # the canonical solution's seconds on one sample's tests
        deadlines: dict[str, float] = {}  # host-side watchdog per sample (the judge enforces the limits)
        timed: dict[str, dict[str, dict]] = {}  # assert problems: per-phase limits {"load", "tests"}
        referencing: set[str] = set()  # assert problems whose reference is being timed
        retries: Counter = Counter()

        def queue_checks(key: str, batch: list[tuple[int, str]]) -> None:
            work.put((1, -costs[key] * len(batch), next(seq), ("check", key, batch)))
            self._left[key] += 1

        def release(key: str, expected: dict | None, ref: dict | None = None) -> None:
            """Queue a problem's samples, in batches, the slowest problems first."""
            payloads[key] = pickle.dumps(payload(problems[key], expected), protocol=5)
            spec = problems[key].tests
            lim = self.limits
            if spec.kind == "io":  # no reference to time: LiveCodeBench's fixed limits
                n = len(spec.io_tests)
                costs[key] = 0.01 * n  # unknown; the number of tests orders problems
                deadlines[key] = (spec.time_limit + 1) * n + 5 + 1  # the judge's whole-sample budget, + 1 s
            elif expected:
                costs[key] = sum(expected["base_time"]) + sum(expected["plus_time"])
                deadlines[key] = sum(self._phase_budget(expected, p) for p in PHASES) + 1
            else:
                counts = {"base": len(spec.asserts), "plus": len(spec.plus_asserts)}
                timed[key] = {p: assert_limits((ref or {}).get(p), n, lim.assert_time_limit, lim.gt_time_limit_factor)
                              for p, n in counts.items() if n or p == "base"}
                costs[key] = sum(sum((r or {}).get("tests") or []) for r in (ref or {}).values() if isinstance(r, dict))
                deadlines[key] = sum(t["load"] + sum(t["tests"]) + 1 for t in timed[key].values()) + 1
            for batch in batches(samples[key], costs[key]):
                queue_checks(key, batch)

        def ask_truth(key: str, phase: str, lo: int, hi: int) -> None:
            for a, b in split(lo, hi, self.n_workers if lo else 1) if phase != "all" else [(0, 0)]:
                work.put((0, 0.0, next(seq), ("gt", key, (phase, a, b))))
                self._left[f"gt:{key}"] += 1

        def ask_reference(key: str) -> None:
            work.put((0, 0.0, next(seq), ("ref", key, None)))
            self._left[f"gt:{key}"] += 1

        for key, problem in problems.items():
            if problem.tests.kind != "evalplus":
                if not problem.canonical_solution.strip():
                    release(key, None)  # nothing to time: fixed limits
                elif (ref := load_cached(key)) is not None:
                    release(key, None, ref)
                else:
                    payloads[f"gt:{key}"] = pickle.dumps(payload(problem, None, reference=True), protocol=5)
                    referencing.add(key)
                    ask_reference(key)
            elif (expected := load_cached(key)) is not None:
                release(key, expected)
            else:
                payloads[f"gt:{key}"] = pickle.dumps(payload(problem, None), protocol=5)
                sizes = {"base": len(problem.tests.base_inputs), "plus": len(problem.tests.plus_inputs)}
                truths[key] = GroundTruth(sizes)
                if any(sizes.values()):
                    ask_truth(key, "all", 0, 0)  # both phases in one job; what it does not reach is re-split
                else:
                    release(key, store_expected(key, truths[key].expected()))

        self.start()  # the workers have been starting meanwhile
        stop = threading.Event()
        threads = [threading.Thread(target=self._serve, args=(slot, work, results, payloads, deadlines, timed, stop),
                                    daemon=True)
                   for slot in range(len(self._pool))]
        for t in threads:
            t.start()
        remaining = sum(len(v) for v in samples.values())
        try:
            while remaining:
                try:
                    (op, key, arg), reply = results.get(timeout=2)
                except queue.Empty:
                    self._check_engines()
                    continue
                if op == "ref":
                    if "engine_lost" in reply:  # not the problem's fault: again, on an engine that answers
                        ask_reference(key)
                        continue
                    if "lost" in reply and retries[key] < 2:
                        retries[key] += 1
                        ask_reference(key)
                        continue
                    referencing.discard(key)
                    ref = reply.get("ref_times")
                    ref = ref if isinstance(ref, dict) else None  # failed or lost: fixed limits
                    if ref and all(isinstance(r, dict) and r.get("status") == "pass" for r in ref.values()):
                        store_expected(key, ref)  # only a reference that passed everything is cached
                    release(key, None, ref)
                    continue
                if op == "gt":
                    if key not in truths:
                        continue  # the problem already failed
                    if "engine_lost" in reply:
                        ask_truth(key, *arg)
                        continue
                    if "lost" in reply and retries[key] < 2:  # the worker died under it: try again
                        retries[key] += 1
                        ask_truth(key, *arg)
                        continue
                    try:
                        if "gt_bytes" not in reply:
                            raise ValueError(reply.get("error") or reply.get("detail") or "no answer")
                        for missing in truths[key].add_reply(*arg, reply):
                            ask_truth(key, *missing)
                        if truths[key].complete():
                            release(key, store_expected(key, truths.pop(key).expected()))
                    except Exception as e:
                        truths.pop(key, None)
                        for idx, _code in samples[key]:
                            remaining -= 1
                            yield self._error_verdict(problems[key], idx, "error", f"ground truth failed: {e}")
                    continue
                finished = {}
                for result in reply.get("samples", ()):
                    if isinstance(result, dict) and result.get("idx") in dict(arg) and result["idx"] not in finished:
                        finished[result["idx"]] = result
                        remaining -= 1
                        yield self._verdict(problems[key], result)
                rest = [(idx, code) for idx, code in arg if idx not in finished]
                if rest and "engine_lost" in reply:  # the engine went away under them: all go again
                    queue_checks(key, rest)
                elif rest and "lost" in reply:  # the sample in flight took the worker down; the rest go again
                    remaining -= 1
                    yield self._error_verdict(problems[key], rest[0][0], reply["lost"], reply.get("detail", ""))
                    if rest[1:]:
                        queue_checks(key, rest[1:])
                elif rest:
                    for idx, _code in rest:
                        remaining -= 1
                        yield self._error_verdict(problems[key], idx, "error", reply.get("error") or "no answer")
        finally:
            while True:  # drop what is left (early exit, Ctrl-C), then stop the threads
                try:
                    work.get_nowait()
                except queue.Empty:
                    break
            stop.set()
            for _ in threads:
                work.put(_STOP)
            if remaining:  # abandoned mid-run: jobs in flight must not answer the next execute()
                for w in list(self._pool):
                    if w is not None and w.busy:
                        w.kill()
            for t in threads:
                t.join(timeout=60)

    def _serve(self, slot: int, work: queue.PriorityQueue, results: queue.Queue, payloads: dict[str, bytes],
               deadlines: dict[str, float], timed: dict[str, dict[str, dict]], stop: threading.Event) -> None:
        engine = self._slots[slot][0]
        while True:
            item = work.get()
            if item[-1] is None or self._closed.is_set():
                return
            op, key, arg = job = item[-1]
            worker = self._pool[slot] if slot < len(self._pool) else None
            if worker is None and slot < len(self._pool):
                worker = self._pool[slot] = self._spawn_quietly(slot)
            if worker is None:
                if self.kind == "docker" and not engine.alive(max_age=0):
                    work.put(item)  # not the job's fault: another engine takes it (or this one, back)
                    if not self._wait_for(engine, stop):
                        return
                    continue
                results.put((job, {"lost": "crashed", "detail": "no sandbox worker could be started"}))
                continue
            msg = {"id": next(self._ids), "op": op, "key": key, "opts": self.limits.opts()}
            if op == "gt":
                msg["phase"], msg["lo"], msg["hi"] = arg
            pkey = key if op == "check" else f"gt:{key}"
            with self._lock:
                self._left[pkey] -= 1
                finished = [k for k in worker.known if self._left[k] <= 0 and k != pkey]
            worker.prepare(msg, pkey, payloads[pkey], finished)
            if op == "check":
                msg["samples"] = arg
                if key in timed:
                    msg["opts"]["assert_limits"] = timed[key]
            t0 = time.perf_counter()
            try:
                timeout = self.limits.gt_timeout + 30 if op != "check" else deadlines[key] * len(arg) + 30
                reply = worker.call(msg, timeout)
            except WorkerLost as e:
                reply = {"lost": e.status, "detail": e.detail, "samples": e.partial}
                if worker.engine_lost():  # its jobs are requeued; this slot waits for the engine
                    reply["engine_lost"] = engine.label
                    with self._lock:
                        engine.lost_jobs += 1
                    self._pool[slot] = None
                    results.put((job, reply))
                    if not self._wait_for(engine, stop):
                        return
                    continue
                if slot < len(self._pool):
                    self._pool[slot] = self._spawn_quietly(slot)
            else:
                with self._lock:
                    engine.jobs += 1
            if TRACE:  # where the time goes: NFBENCH_SANDBOX_TRACE=file.jsonl
                self._trace(slot, job, t0, reply, len(msg.get("problem", b"")))
            results.put((job, reply))

    def _spawn_quietly(self, slot: int) -> WorkerProc | None:
        try:
            return self._spawn(slot)
        except UserError as e:  # refused mid-run: this slot stops taking jobs
            print(f"sandbox: {e}", file=sys.stderr)
            return None

    def _wait_for(self, engine: sandbox_engines.Engine, stop: threading.Event) -> bool:
        """Wait until `engine` answers again (True), or the run ends (False)."""
        return sandbox_engines.wait_until_up(engine, stop, self._closed, resend_image=bool(self.engines))

    def _check_engines(self) -> None:
        if self.kind == "docker":
            sandbox_engines.check_answering([e for e, _ in self._slots], self.limits.engine_wait)

    def _trace(self, slot: int, job: tuple, t0: float, reply: dict, sent: int) -> None:
        op, key, arg = job
        row = {"slot": slot, "op": op, "key": key[:8], "samples": len(arg) if op == "check" else None,
               "t0": round(t0, 4), "t1": round(time.perf_counter(), 4), "payload_bytes": sent,
               "phase_s": [[r.get(p, {}).get("seconds") for p in PHASES] for r in reply.get("samples", ())],
               "load_s": reply.get("load_s"), "worker_s": reply.get("worker_s")}
        with self._lock, open(TRACE, "a") as f:
            f.write(json.dumps(row) + "\n")

    def _phase_budget(self, expected: dict, phase: str) -> float:
        """evalplus's time-out for one phase's process: min(60, sum of per-test limits) + 2."""
        lim = self.limits
        return min(lim.timeout_per_task, sum(max(lim.min_time_limit, lim.gt_time_limit_factor * t)
                                             for t in expected[f"{phase}_time"])) + 2

    @staticmethod
    def _has_plus(problem: Problem) -> bool:
        return problem.tests.kind == "evalplus" or bool(problem.tests.plus_asserts)

    def _error_verdict(self, problem: Problem, idx: int, status: str, detail: str) -> Verdict:
        return Verdict(problem.task_id, idx, status, status if self._has_plus(problem) else None, detail=detail)

    def _verdict(self, problem: Problem, result: dict) -> Verdict:
        base, plus = result.get("base") or {}, result.get("plus")
        if not base:
            return self._error_verdict(problem, result["idx"], "error", "the judge sent no base result")
        detail = "; ".join(f"{name}: {r['detail']}" for name, r in (("base", base), ("plus", plus))
                           if r and r.get("detail"))
        seconds = sum(r.get("seconds") or 0.0 for r in (base, plus) if r)
        return Verdict(problem.task_id, result["idx"], base["status"], plus["status"] if plus else None,
                       base_fail_test=base.get("fail_test"), plus_fail_test=plus.get("fail_test") if plus else None,
                       seconds=round(seconds, 4), detail=detail,
                       self_checked=any(bool(r.get("self_checked")) for r in (base, plus) if r))

"""The host's side of the sandbox workers: long-lived locked-down containers (each running the judge,
container/judge.py, as PID 1), or local subprocesses running the same judge.

Every container carries the label `nfbench.sandbox` and `nfbench.owner=<host>:<pid>:<start>`, so
containers left by a harness that was killed are found and removed when the next one starts.
Containers also die on their own when the harness dies: the worker exits when its stdin closes.
"""
from __future__ import annotations

import itertools
import json
import os
import pickle
import queue
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path

from nfbench.sandbox.engines import IGNORED_LIMIT, Engine, lost_daemon

LABEL = "nfbench.sandbox"
JUDGE_PY = Path(__file__).with_name("container") / "judge.py"
_names = itertools.count()
KEEP = 16  # problem payloads a worker keeps between jobs


@dataclass
class Limits:
    """Resource limits; any of them can be passed as keyword to `Sandbox(...)`."""

    memory_mb: int = 8192  # per container (cgroup): a worker holding Mbpp/255's expected outputs
    # (~800 MB pickled) forks checking children that copy what they touch
    child_memory_mb: int = 4096  # RLIMIT_AS of a checking child, evalplus's default 4 GiB
    pids: int = 256
    cpus: float = 1.0
    tmpfs_mb: int = 128
    min_time_limit: float = 1.0  # evalplus: per-test limit max(min_time_limit, factor * GT time)
    gt_time_limit_factor: float = 4.0
    timeout_per_task: float = 60.0  # evalplus EVALPLUS_TIMEOUT_PER_TASK
    assert_time_limit: float = 3.0  # per assert statement for kind="asserts"
    gt_timeout: float = 600.0  # computing one problem's expected outputs
    gt_budget: float = 2.0  # a ground-truth job hands back the rest of its tests after this long
    recompute_len: int = 200_000  # expected outputs with a container this long are recomputed by each judge
    # evalplus-exact (True): the plus tests run even for a sample whose base tests failed, so that
    # its plus_status is what evalplus reports; False skips them (plus_status "skipped"): pass@k
    # is the same either way (a plus pass needs a base pass), a run with many wrong samples is faster
    plus_after_base_fail: bool = True
    start_timeout: float = 60.0
    # an engine that stops answering: its jobs go to the other engines; when none answers for this
    # long, the run stops with one line (and resumes from what it recorded when re-run)
    engine_wait: float = 300.0

    def opts(self) -> dict:
        return {k: getattr(self, k) for k in ("min_time_limit", "gt_time_limit_factor",
                                              "timeout_per_task", "assert_time_limit", "gt_timeout", "gt_budget",
                                              "recompute_len", "plus_after_base_fail")}


class WorkerLost(Exception):
    """The worker died or stopped answering; `status` is the verdict for its in-flight job."""

    def __init__(self, status: str, detail: str, partial: list | None = None):
        super().__init__(detail)
        self.status, self.detail = status, detail
        self.partial = partial or []  # results the job sent before the worker was lost


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def owner_label() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid())}"


def _owner_alive(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # not ours to judge
    return _start_time(int(pid)) == start


def remove_stale(engine: Engine | None = None) -> list[str]:
    """Remove sandbox containers whose harness process is gone; returns their names."""
    engine = engine or Engine()
    res = engine.run("ps", "-a", "--filter", f"label={LABEL}", "--format", '{{.Names}}\t{{.Label "nfbench.owner"}}')
    stale = [name for name, _, owner in (line.partition("\t") for line in res.stdout.splitlines())
             if name and not _owner_alive(owner)]
    if stale:
        engine.run("rm", "-f", *stale)
    return stale


def docker_argv(image: str, name: str, limits: Limits, cpu: int | None = None,
                engine: Engine | None = None) -> list[str]:
    mem = f"{limits.memory_mb}m"
    return [*(engine or Engine()).argv(), "run", "-i", "--rm", "--name", name,
            "--label", LABEL, "--label", f"nfbench.owner={owner_label()}",
            "--network", "none", "--read-only", "--user", "65534:65534",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "--tmpfs", f"/tmp:rw,nosuid,nodev,size={limits.tmpfs_mb}m,mode=1777",
            "--shm-size", "64m", "--pids-limit", str(limits.pids),
            "--memory", mem, "--memory-swap", mem, "--cpus", str(limits.cpus),
            "--ulimit", "core=0", "--log-driver", "none", *(["--cpuset-cpus", str(cpu)] if cpu is not None else []),
            "-e", f"EVALPLUS_MAX_MEMORY_BYTES={limits.child_memory_mb << 20}", image]


class WorkerProc:
    """One worker process speaking the job protocol (length-prefixed pickle in, JSON lines out: for
    a check job one line per sample as it finishes, then a line with "done")."""

    def __init__(self, kind: str, image: str | None, limits: Limits, cpu: int | None = None,
                 engine: Engine | None = None):
        self.kind, self.limits, self.engine = kind, limits, engine or Engine()
        self.name = f"nfbench-sbx-{os.getpid()}-{next(_names)}"
        self.stderr: deque[str] = deque(maxlen=20)
        self._replies: queue.Queue = queue.Queue()
        self._tmp = None
        if kind == "docker":
            argv, env = docker_argv(image, self.name, limits, cpu, self.engine), None
        else:
            self._tmp = tempfile.TemporaryDirectory(prefix="nfbench-local-")
            argv = [sys.executable, str(JUDGE_PY)]
            env = {"PATH": os.environ.get("PATH", ""), "TMPDIR": self._tmp.name, "HOME": self._tmp.name,
                   "PYTHONPATH": str(JUDGE_PY.parent),
                   "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                   "EVALPLUS_MAX_MEMORY_BYTES": str(limits.child_memory_mb << 20)}
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, start_new_session=True)
        if kind == "local" and cpu is not None:  # (a container is pinned by --cpuset-cpus)
            os.sched_setaffinity(self.proc.pid, {cpu})
        threading.Thread(target=self._read_replies, daemon=True).start()
        self._stderr_reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._stderr_reader.start()
        hello = self._get(limits.start_timeout)
        if not hello or not hello.get("ready"):
            self.kill()
            raise WorkerLost("crashed", f"worker did not start: {' | '.join(self.stderr)}")
        if any(IGNORED_LIMIT in line for line in self.stderr):  # e.g. "Your kernel does not support swap limit"
            self.kill()
            raise WorkerLost("refused", f"engine {self.engine.label} accepts but does not enforce a limit: "
                             f"{' | '.join(self.stderr)}")
        self.known: OrderedDict[str, None] = OrderedDict()  # payloads it holds, least recently used first
        self.busy = False  # a job is in flight (closing then kills instead of waiting)

    def prepare(self, msg: dict, pkey: str, payload: bytes, finished: list[str]) -> None:
        """Attach the problem payload unless the worker holds it, and drop the payloads of problems
        with no jobs left: Mbpp/255's expected outputs take 1.3 GB in a worker, and a big worker
        makes every fork slow. At most KEEP payloads are held in any case."""
        for k in finished:
            self.known.pop(k, None)
        evict = list(finished)
        if pkey in self.known:
            self.known.move_to_end(pkey)
        else:
            msg["problem"] = payload
            self.known[pkey] = None
            evict += [self.known.popitem(last=False)[0] for _ in range(len(self.known) - KEEP)]
        msg["evict"] = evict

    def _read_replies(self) -> None:
        for line in self.proc.stdout:
            try:
                reply = json.loads(line)
                if isinstance(reply.get("gt_bytes"), int):  # raw ground-truth pickle follows
                    reply["gt_bytes"] = self.proc.stdout.read(reply["gt_bytes"])
                self._replies.put(reply)
            except (ValueError, AttributeError):
                self.stderr.append(f"bad reply: {line[:200]!r}")
                break
        self._replies.put(None)

    def _read_stderr(self) -> None:
        for line in self.proc.stderr:
            self.stderr.append(line.decode(errors="replace").rstrip())

    def _get(self, timeout: float) -> dict | None:
        try:
            return self._replies.get(timeout=timeout)
        except queue.Empty:
            return None

    def call(self, msg: dict, timeout: float) -> dict:
        """Send one job and wait for its reply; a check job's per-sample lines are collected in
        reply["samples"]. Raises WorkerLost (with the samples that did finish) if the worker dies
        or `timeout` passes."""
        body = pickle.dumps(msg, protocol=5)
        self.busy = True
        try:
            self.proc.stdin.write(struct.pack(">I", len(body)) + body)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._lost() from None
        deadline, samples = time.monotonic() + timeout, []
        while True:
            reply = self._get(max(0.0, deadline - time.monotonic()))
            if reply is None:
                lost = self._lost(timed_out=self.proc.poll() is None)
                lost.partial = samples
                raise lost
            if reply.get("id") != msg["id"]:
                self.kill()
                raise WorkerLost("crashed", "worker answered out of turn", samples)
            if "sample" in reply:
                samples.append(reply["sample"])
                continue
            self.busy = False
            reply["samples"] = samples
            return reply

    def _lost(self, timed_out: bool = False) -> WorkerLost:
        oom = False
        if self.kind == "docker" and not timed_out:
            res = self.engine.run("inspect", "-f", "{{.State.OOMKilled}}", self.name, timeout=30)
            oom = res.stdout.strip() == "true"
        self.kill()
        if timed_out:
            return WorkerLost("timeout", "the worker stopped answering and was killed")
        if oom:
            return WorkerLost("oom", "the container ran out of memory and was replaced")
        return WorkerLost("crashed", f"the worker died and was replaced ({self.proc.returncode})")

    def engine_lost(self) -> bool:
        """Was this worker lost with its engine (the daemon gone or restarting), not on its own?"""
        if self.kind != "docker":
            return False
        self._stderr_reader.join(timeout=2)  # the client's last words say whether it lost the daemon
        return lost_daemon(list(self.stderr)) or not self.engine.alive(max_age=0)

    def kill(self) -> None:
        if self.kind == "docker":
            self.engine.run("rm", "-f", self.name, timeout=30)
        else:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.close(wait=1.0)

    def close(self, wait: float = 10.0) -> None:
        """Close stdin (the worker exits, and with it the container), then make sure."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            if self.kind == "docker":
                self.engine.run("rm", "-f", self.name, timeout=30)
        if self.kind == "local":  # children that outlived the worker share its process group
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

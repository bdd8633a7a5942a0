"""The Docker engines a sandbox runs on: this machine's (the default), or any list of engines reached
the way the docker CLI reaches them (`--sandbox-engines URL[,URL...]`).

    unix:///var/run/docker.sock        a local socket
    tcp://gpu1:2376                     TLS from DOCKER_TLS_VERIFY / DOCKER_CERT_PATH, as for the CLI
    ssh://me@gpu2                       the CLI's ssh transport (docker on the remote, key auth)
    gpu3                                a docker context name (`docker context create`: one TLS
                                        setup per engine)
    default                             whatever `docker` alone talks to (DOCKER_HOST or the socket)

Each may end in `#N` (N workers; default: the engine's CPU count) or `#N:A-B` (N workers pinned
round-robin to the engine's CPUs A..B; default: all of its CPUs). Every engine must enforce the
lockdown (memory + swap, pids, CPU quota and cpuset cgroups on Linux): one that cannot is refused
with the reason, before any work. The image is the one built here (`nfbench sandbox build`); an
engine lacking it gets it with `docker save | docker load` through its API (no registry).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from nfbench.harness.errors import UserError

# what the lockdown (containers.docker_argv) needs from a daemon, with what it means if missing
NEEDED = {"MemoryLimit": "--memory", "SwapLimit": "--memory-swap (swap accounting)",
          "PidsLimit": "--pids-limit", "CpuCfsQuota": "--cpus (CFS quota)", "CPUSet": "--cpuset-cpus"}
# what `docker run` prints when the daemon accepted a limit it will not enforce
IGNORED_LIMIT = "does not support"
# what the docker client prints when it loses the daemon under a running container
LOST_DAEMON = ("error waiting for container", "cannot connect to the docker daemon", "unexpected eof",
               "connection refused", "is the docker daemon running", "connection reset")


@dataclass
class Engine:
    url: str | None = None  # None: the CLI's default engine
    workers: int | None = None  # None: the engine's CPU count
    cpus: list[int] | None = None  # CPUs (of the engine's machine) its workers are pinned to
    ncpu: int = 0
    jobs: int = 0  # jobs its workers answered (this process)
    lost_jobs: int = 0  # jobs in flight when it went away (requeued)
    _alive: tuple[float, bool] = field(default=(0.0, True), repr=False)
    _probe: threading.Lock = field(default_factory=threading.Lock, repr=False)
    down_since: float | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        return self.url or "default"

    def argv(self, *args: str) -> list[str]:
        if self.url is None:
            return ["docker", *args]
        if "://" not in self.url:
            return ["docker", "--context", self.url, *args]
        return ["docker", "-H", self.url, *args]

    def run(self, *args: str, timeout: float | None = 60, **kw) -> subprocess.CompletedProcess:
        try:
            return subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout, **kw)
        except FileNotFoundError:
            raise UserError("the docker command is not installed",
                            "run `bash sandbox/setup_engine.sh` (as root)") from None
        except subprocess.TimeoutExpired:
            return subprocess.CompletedProcess(args, 124, "", f"timed out after {timeout} s")

    def info(self) -> dict | None:
        res = self.run("info", "-f", "{{json .}}", timeout=30)
        if res.returncode != 0:
            return None
        try:
            info = json.loads(res.stdout)
        except ValueError:
            return None
        return info if isinstance(info, dict) and info.get("ServerVersion") else None

    def alive(self, max_age: float = 1.0) -> bool:
        """Does the daemon answer? (one probe per `max_age` seconds, whatever the number of callers)"""
        with self._probe:
            at, ok = self._alive
            if time.monotonic() - at > max_age:
                ok = self.run("version", "-f", "{{.Server.Version}}", timeout=15).returncode == 0
                self._alive = (time.monotonic(), ok)
                if not ok and self.down_since is None:
                    self.down_since = time.time()
                    print(f"sandbox: engine {self.label} stopped answering; its jobs go to the engines "
                          "that answer (or wait for it), and its workers come back when it does", file=sys.stderr, flush=True)
                elif ok and self.down_since is not None:
                    print(f"sandbox: engine {self.label} is back after {time.time() - self.down_since:.0f} s",
                          file=sys.stderr, flush=True)
                    self.down_since = None
            return ok

    def image_id(self, tag: str) -> str | None:
        res = self.run("image", "inspect", "-f", "{{.Id}}", tag, timeout=30)
        return res.stdout.strip() or None if res.returncode == 0 else None


def parse(spec: str | list[str] | None) -> list[Engine]:
    """`URL[#N[:A-B]],...` (or a list of them) -> engines; [] for none."""
    items = spec if isinstance(spec, list) else (spec or "").split(",")
    engines = []
    for item in (s.strip() for s in items):
        if not item:
            continue
        url, _, tail = item.partition("#")
        workers, _, cpus = tail.partition(":")
        try:
            n = int(workers) if workers else None
            if cpus:
                a, _, b = cpus.partition("-")
                cpu_list = list(range(int(a), int(b or a) + 1))
            else:
                cpu_list = None
            if (n is not None and n < 1) or (cpu_list is not None and not cpu_list):
                raise ValueError
        except ValueError:
            raise UserError(f"bad sandbox engine '{item}'", "write URL, URL#WORKERS or URL#WORKERS:FIRSTCPU-LASTCPU "
                            "(e.g. tcp://gpu1:2376#8:0-7)") from None
        engines.append(Engine(None if url == "default" else url, n, cpu_list))
    if len({e.label for e in engines}) < len(engines):
        raise UserError(f"a sandbox engine is listed twice in '{spec}'", "list each engine once (use #N for more workers)")
    return engines


def refusal(info: dict) -> str | None:
    """Why an engine cannot run the locked-down containers (None: it can)."""
    if info.get("OSType") != "linux":
        return f"it runs {info.get('OSType')} containers; the sandbox needs Linux containers"
    missing = [flag for key, flag in NEEDED.items() if info.get(key) is not True]
    if missing:
        return ("its kernel/cgroup setup cannot enforce " + ", ".join(missing)
                + " (rootless Docker on cgroup v1, or a kernel without swap accounting: boot with swapaccount=1)")
    return None


def connect(engines: list[Engine], default_workers: int | None) -> None:
    """Ask each engine its CPUs and refuse those that cannot run the sandbox (UserError, with the reason)."""
    def one(engine: Engine) -> str | None:
        info = engine.info()
        if info is None:
            return f"sandbox engine {engine.label} does not answer"
        if why := refusal(info):
            return f"sandbox engine {engine.label} is refused: {why}"
        engine.ncpu = int(info.get("NCPU") or 1)
        engine.cpus = [c for c in engine.cpus if c < engine.ncpu] if engine.cpus else list(range(engine.ncpu))
        if not engine.cpus:
            return f"sandbox engine {engine.label} has {engine.ncpu} CPUs: the CPUs given after ':' are not among them"
        engine.workers = engine.workers or default_workers or engine.ncpu
        return None

    threads = [_Thread(one, e) for e in engines]
    errors = [t.result() for t in threads if t.result()]
    if errors:
        raise UserError(errors[0], "check the URL (docker -H URL info), start that engine, or leave it out of "
                        "--sandbox-engines")


def distribute(engines: list[Engine], tag: str, local: Engine) -> None:
    """Make sure every engine holds image `tag`, loading it from `local` where it is missing."""
    want = local.image_id(tag)

    def one(engine: Engine) -> str | None:
        have = engine.image_id(tag)
        if have:
            return None if not want or have == want else (
                f"sandbox engine {engine.label} holds a different image under {tag}")
        if not want:
            return f"the sandbox image {tag} is not built here, so it cannot be sent to {engine.label}"
        print(f"sandbox: sending the image {tag} to {engine.label} (docker save | docker load)",
              file=sys.stderr, flush=True)
        save = subprocess.Popen(local.argv("save", tag), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        res = subprocess.run(engine.argv("load", "-q"), stdin=save.stdout, capture_output=True, text=True)
        save.stdout.close()
        save.wait()
        if res.returncode != 0 or save.returncode != 0 or engine.image_id(tag) != want:
            return f"loading the sandbox image onto {engine.label} failed: {res.stderr.strip()[-300:]}"
        return None

    threads = [_Thread(one, e) for e in engines]
    errors = [t.result() for t in threads if t.result()]
    if errors:
        raise UserError(errors[0], "run `nfbench sandbox build` here (or `nfbench sandbox build --force` "
                        "if an engine holds a stale image), then re-run")


class _Thread(threading.Thread):
    def __init__(self, fn, *args):
        super().__init__(daemon=True)
        self._fn, self._args, self._out = fn, args, None
        self.start()

    def run(self) -> None:
        self._out = self._fn(*self._args)

    def result(self):
        self.join()
        return self._out


def wait_until_up(engine: Engine, stop: threading.Event, closed: threading.Event, resend_image: bool) -> bool:
    """Block until `engine` answers again (True) or `stop`/`closed` is set (False); an engine that
    comes back empty (a new machine behind the same address) gets the image again."""
    from nfbench.sandbox.image import image_tag

    while not stop.is_set() and not closed.is_set():
        if engine.alive(max_age=2.0):
            if resend_image:
                try:
                    distribute([engine], image_tag(), Engine())
                except UserError as e:
                    print(f"sandbox: {e}", file=sys.stderr)
            return True
        stop.wait(2.0)
    return False


def check_answering(engines: list[Engine], wait_s: float) -> None:
    """Raise (one line) when no engine of the pool has answered for `wait_s` seconds."""
    engines = list({id(e): e for e in engines}.values())
    down = [e.down_since for e in engines]
    if down and all(d is not None for d in down) and time.time() - max(down) > wait_s:
        raise UserError(f"no sandbox engine has answered for {time.time() - max(down):.0f} s "
                        f"({', '.join(e.label for e in engines)})",
                        "start the engine(s) again and re-run the same command: the run resumes, "
                        "keeping every verdict already recorded")


def lost_daemon(stderr_lines: list[str]) -> bool:
    """Did the docker client say it lost the daemon (rather than its container dying)?"""
    text = " ".join(stderr_lines).lower()
    return any(s in text for s in LOST_DAEMON)


def default_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]

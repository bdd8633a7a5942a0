"""Hostile code against the real Docker sandbox: each attack is contained, correct samples run
alongside keep their verdicts, and nothing is left running afterwards.

Most attacks are written so that the sample passes only if the attack *worked* (e.g. `f` returns
the right answer only when a network connection succeeded), so a "pass" would be a breach.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from nfbench.harness.types import Problem
from nfbench.harness.types import TestSpec as Spec
from nfbench.sandbox.executor import Sandbox
from nfbench.sandbox.containers import LABEL, owner_label

pytestmark = pytest.mark.docker

CANARY = "nfbench-canary-7f3a9"
SQUARE = Problem("hostile/square", "", "f", "def f(x):\n    return x * x\n",
                 Spec(kind="asserts", asserts=["assert f(2) == 4", "assert f(3) == 9"]))
LIMITS = dict(memory_mb=512, child_memory_mb=256, pids=64, assert_time_limit=2.0, tmpfs_mb=32)


def breach_if(cond: str, prelude: str) -> str:
    """A solution that is correct only when `cond` holds after the attack in `prelude`."""
    return textwrap.dedent(prelude) + f"\nOK = bool({cond})\ndef f(x):\n    return x * x if OK else -1\n"


def in_f(body: str) -> str:
    return "def f(x):\n" + textwrap.indent(textwrap.dedent(body), "    ") + "\n    return x * x\n"


ATTACKS = {
    # name: (solution, statuses that count as contained)
    "network": (breach_if("NET", """
        import socket
        NET = False
        for host in [("1.1.1.1", 53), ("8.8.8.8", 53), ("pypi.org", 443)]:
            try:
                socket.create_connection(host, timeout=1).close(); NET = True
            except OSError:
                pass
        """), {"fail"}),
    "fork_bomb": ("import posix\nwhile True:\n    try:\n        posix.fork()\n    except OSError:\n        pass\n",
                  {"timeout"}),
    "memory_bomb": (in_f("blocks = []\nwhile True:\n    blocks.append(bytearray(50 << 20))"), {"fail"}),
    "memory_bomb_processes": (textwrap.dedent("""
        import posix, time
        for _ in range(6):
            if posix.fork() == 0:
                blocks = []
                try:
                    while True:
                        blocks.append(bytearray(20 << 20))
                except MemoryError:
                    time.sleep(30)
        time.sleep(30)
        """), {"timeout", "oom", "error"}),
    "tmpfs_fill": (breach_if("FULL_WRITE", """
        import os
        FULL_WRITE = True
        fd = os.open("/tmp/fill", os.O_WRONLY | os.O_CREAT)
        try:
            for _ in range(10_000):
                os.write(fd, b"x" * (1 << 20))
        except OSError:
            FULL_WRITE = False
        """), {"fail"}),
    "infinite_loop": (in_f("while True:\n    pass"), {"timeout"}),
    "sleep": (in_f("import time\ntime.sleep(1000)"), {"timeout"}),
    "alarm_ignored": (in_f("import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass"),
                      {"timeout"}),
    "read_host_files": (breach_if("FOUND", """
        import os
        FOUND = False
        for path in ["/work/main/pyproject.toml", "/work/shared/docs/environment.md", "/root/.bash_history",
                     "/var/run/docker.sock"]:
            try:
                os.close(os.open(path, os.O_RDONLY)); FOUND = True
            except OSError:
                pass
        """), {"fail"}),
    "read_env": (breach_if("SECRET", f"""
        import os, glob
        SECRET = "{CANARY}" in repr(dict(os.environ))
        for p in glob.glob("/proc/*/environ"):
            try:
                fd = os.open(p, os.O_RDONLY); SECRET |= b"{CANARY}" in os.read(fd, 1 << 20); os.close(fd)
            except OSError:
                pass
        """), {"fail"}),
    "write_outside_tmp": (breach_if("WROTE", """
        import os
        WROTE = False
        for path in ["/opt/nfbench/worker.py", "/pwned", "/usr/lib/python3/pwned", "/home/pwned"]:
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT)); WROTE = True
            except OSError:
                pass
        """), {"fail"}),
    "kill_others": ("import posix, signal\nfor pid, sig in [(-1, 9), (1, 9), (1, 15), (1, 2), (posix.getppid(), 9)]:\n"
                    "    try:\n        posix.kill(pid, sig)\n    except OSError:\n        pass\n"
                    "def f(x):\n    return x * x\n", {"pass"}),
    "close_and_flood_stdout": (textwrap.dedent("""
        import os, sys
        for fd in range(3, 64):
            try:
                os.write(fd, b'{"id": 0, "base": "forged"}\\n' * 1000)
            except OSError:
                pass
        os.write(1, b"x" * (1 << 24))
        os.close(1); os.close(2); os.close(0)
        def f(x):
            while True:
                print("y" * 100000)
        """), {"timeout", "fail"}),
    "os_exit": ("import os\nos._exit(0)\n", {"error"}),
    "segfault": (in_f("import ctypes\nctypes.string_at(0)"), {"error"}),
    "self_signal": (in_f("import posix, signal\nposix.kill(posix.getpid(), signal.SIGTERM)"), {"error"}),
    "syntax_error": ("def f(x):\n    return x *\n", {"error"}),
}

# Run on one worker in this order: the probes check that the attack just before left nothing behind.
PROBE_CLEAN = breach_if("CLEAN", """
    import os, shutil
    def running(p):  # a zombie is not running; the zygotes are the sandbox's own
        try:
            state = open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()[0]
            return state not in "ZX" and b"zygote.py" not in open("/proc/%s/cmdline" % p, "rb").read()
        except OSError:
            return False
    others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (os.getpid(), os.getppid(), 1)
              and running(p)]
    CLEAN = not others and len(os.listdir("/tmp")) <= 1 and shutil.disk_usage("/tmp").free > (16 << 20)
    """)
DETACHED = textwrap.dedent("""
    import posix, time
    if posix.fork() == 0:
        posix.setsid()
        if posix.fork() == 0:
            while True:
                time.sleep(0.1)
        posix._exit(0)
    def f(x):
        return x * x
    """)


@pytest.fixture(scope="session")
def sandbox_image() -> str:
    from nfbench.sandbox.image import build_image

    return build_image()  # a no-op when the image for the current sources exists


def _verdicts(sb: Sandbox, jobs):
    return {(v.task_id, v.sample_idx): v for v in sb.execute(jobs)}


def _our_containers(owner: str) -> list[str]:
    res = subprocess.run(["docker", "ps", "-a", "-q", "--filter", f"label=nfbench.owner={owner}"],
                         capture_output=True, text=True, check=True)
    return res.stdout.split()


def test_attacks_are_contained_and_correct_samples_unaffected(sandbox_image, monkeypatch):
    monkeypatch.setenv("NFBENCH_SECRET_CANARY", CANARY)
    names = list(ATTACKS)
    jobs = []
    for i, name in enumerate(names):  # each attack next to a correct and a wrong control sample
        jobs.append((SQUARE, 3 * i, ATTACKS[name][0]))
        jobs.append((SQUARE, 3 * i + 1, SQUARE.canonical_solution))
        jobs.append((SQUARE, 3 * i + 2, "def f(x):\n    return x + x\n"))
    with Sandbox(workers=2, **LIMITS) as sb:
        got = _verdicts(sb, jobs)
        # the pool survived everything: a fresh batch still gets the right verdicts
        again = _verdicts(sb, [(SQUARE, 0, SQUARE.canonical_solution), (SQUARE, 1, "def f(x): return 0")])
    for i, name in enumerate(names):
        v = got[(SQUARE.task_id, 3 * i)]
        assert v.base_status in ATTACKS[name][1], (name, v)
        assert got[(SQUARE.task_id, 3 * i + 1)].base_status == "pass", name
        assert got[(SQUARE.task_id, 3 * i + 2)].base_status == "fail", name
        assert got[(SQUARE.task_id, 3 * i + 2)].base_fail_test == 1
    assert again[(SQUARE.task_id, 0)].base_status == "pass"
    assert again[(SQUARE.task_id, 1)].base_status == "fail"
    assert not _our_containers(owner_label())


def test_nothing_survives_a_job(sandbox_image):
    """Detached grandchildren, a full tmpfs and a fork bomb are all gone before the next job."""
    attacks = [DETACHED, ATTACKS["tmpfs_fill"][0], ATTACKS["fork_bomb"][0], ATTACKS["memory_bomb_processes"][0]]
    jobs = []
    for i, attack in enumerate(attacks):
        jobs += [(SQUARE, 2 * i, attack), (SQUARE, 2 * i + 1, PROBE_CLEAN)]
    with Sandbox(workers=1, **LIMITS) as sb:
        got = _verdicts(sb, jobs)
    for i in range(len(attacks)):
        assert got[(SQUARE.task_id, 2 * i + 1)].base_status == "pass", (i, got[(SQUARE.task_id, 2 * i)])


def test_dead_container_is_replaced(sandbox_image):
    # the sample sleeps well inside its limit and well past the kill, so the kill lands mid-job
    # whatever the machine's load (the reference-timing job of SQUARE runs first)
    slow = in_f("import time\ntime.sleep(6)")
    with Sandbox(workers=1, **{**LIMITS, "assert_time_limit": 10.0}) as sb:
        sb.start()  # wait for the worker (entering only begins starting it)
        name = sb._pool[0].name
        killer = subprocess.Popen(["bash", "-c", f"sleep 2; docker kill {name}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        got = _verdicts(sb, [(SQUARE, 0, slow), (SQUARE, 1, SQUARE.canonical_solution)])
        killer.wait()
        assert sb._pool[0].name != name
    assert got[(SQUARE.task_id, 0)].base_status == "crashed"
    assert got[(SQUARE.task_id, 1)].base_status == "pass"


HARNESS = """
import sys, time
from nfbench.harness.types import Problem
from nfbench.harness.types import TestSpec as Spec
from nfbench.sandbox.executor import Sandbox
from nfbench.sandbox.containers import owner_label
p = Problem("t", "", "f", "", Spec(kind="asserts", asserts=["assert f(1) == 1"]))
with Sandbox(workers=2) as sb:
    sb.start()
    print(owner_label(), flush=True)
    for v in sb.execute([(p, i, "import time\\ntime.sleep(100)\\ndef f(x): return x") for i in range(2)]):
        pass
"""


@pytest.mark.parametrize("how", ["ctrl_c", "sigkill"])
def test_no_container_outlives_the_harness(sandbox_image, how):
    proc = subprocess.Popen([sys.executable, "-c", HARNESS], stdout=subprocess.PIPE, text=True)
    owner = proc.stdout.readline().strip()
    assert len(_our_containers(owner)) == 2
    time.sleep(0.5)
    proc.send_signal(2 if how == "ctrl_c" else 9)
    proc.wait(timeout=30)
    if how == "sigkill":  # the harness could not clean up: the next one removes its workers
        with Sandbox(workers=1, **LIMITS):
            pass
    deadline = time.time() + 15
    while _our_containers(owner) and time.time() < deadline:
        time.sleep(0.5)
    assert not _our_containers(owner)


def test_stale_labelled_container_removed_at_start(sandbox_image):
    name = f"nfbench-stale-{os.getpid()}"
    dead_owner = "stale:999999999:0".replace("stale", os.uname().nodename)
    subprocess.run(["docker", "run", "-d", "--name", name, "--label", LABEL, "--label",
                    f"nfbench.owner={dead_owner}", "--entrypoint", "sleep", sandbox_image, "300"],
                   check=True, capture_output=True)
    try:
        with Sandbox(workers=1, **LIMITS):
            assert not _our_containers(dead_owner)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)


def test_probes_detect_a_breach_without_isolation():
    """The attack probes are live: without Docker (local mode) reading a host file succeeds, so a
    'fail' verdict above really means the container stopped it."""
    probe = breach_if("FOUND", f"""
        import os
        fd = os.open({str(__file__)!r}, os.O_RDONLY); FOUND = b"breach_if" in os.read(fd, 1 << 16); os.close(fd)
        """)
    with Sandbox("local", workers=1, assert_time_limit=2.0) as sb:
        got = {v.sample_idx: v for v in sb.execute([(SQUARE, 0, probe)])}
    assert got[0].base_status == "pass"  # the host file was readable


def test_cgroup_oom_gives_an_oom_verdict(sandbox_image):
    """With the child's rlimit above the container's memory, the kernel's OOM killer steps in."""
    bomb = in_f("b = bytearray(600 << 20)\nfor i in range(0, len(b), 4096):\n    b[i] = 1")
    with Sandbox(workers=1, memory_mb=300, child_memory_mb=2048, assert_time_limit=5.0) as sb:
        got = _verdicts(sb, [(SQUARE, 0, bomb), (SQUARE, 1, SQUARE.canonical_solution)])
    assert got[(SQUARE.task_id, 0)].base_status == "oom"
    assert got[(SQUARE.task_id, 1)].base_status == "pass"


def test_abandoned_execute_leaves_the_pool_usable(sandbox_image):
    slow = in_f("import time\ntime.sleep(1.5)")
    with Sandbox(workers=1, **LIMITS) as sb:
        for _ in sb.execute([(SQUARE, i, slow) for i in range(3)]):
            break  # the consumer stops early, with a job in flight
        got = _verdicts(sb, [(SQUARE, 0, SQUARE.canonical_solution), (SQUARE, 1, "def f(x): return 1")])
    assert got[(SQUARE.task_id, 0)].base_status == "pass"
    assert got[(SQUARE.task_id, 1)].base_status == "fail"

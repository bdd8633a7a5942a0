#!/usr/bin/env bash
# Set up (as scripts/setup.sh, plus test extras and headless Chromium for the report test) and run
# the whole test suite. Usage: bash scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "== chromium (renders the HTML report in a test)" >&2
  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium not installed" >&2
fi
export NFBENCH_DATA_DIR=${NFBENCH_DATA_DIR:-$(cd .. && pwd)/shared/data}
exec .venv/bin/python -m pytest -q --durations=15 "$@"

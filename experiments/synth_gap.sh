#!/usr/bin/env bash
# The synth suite's CoT-vs-direct gap as a function of the chain length (issue 4): cot_direct_gap.sh
# on synth's `steps` with the CI configs (ci/configs/{cot,direct}.yaml, only task_options.steps changed).
#
#   bash experiments/synth_gap.sh [STEPS ...]      (default: 2 3 4 6; steps=1 has too few distinct chains for the splits; ~7 min per value on 2 cores)
set -euo pipefail
[ $# -gt 0 ] || set -- 2 3 4 6
exec bash "$(dirname "$0")/cot_direct_gap.sh" synth steps "$@"

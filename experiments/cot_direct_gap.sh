#!/usr/bin/env bash
# The CoT-vs-direct gap as a function of one difficulty knob of a synthetic suite: for each value,
# train `cot` and `direct` with the suite's CI-sized configs (synth: ci/configs/{cot,direct}.yaml; another
# suite T: experiments/T-ci/{cot,direct}.yaml; only the knob changed), run both greedy on test[:LIMIT]
# in the Docker sandbox, and print one report over all runs (pass@1 with CIs, reasoning positions).
#
#   bash experiments/cot_direct_gap.sh TASK KNOB VALUE [VALUE ...]      e.g. graph depth 1 2 3
#   (~6-7 min per value on 2 cores; LIMIT=100 by default; synth_gap.sh is `synth steps`)
set -euo pipefail
cd "$(dirname "$0")/.."
nfbench=.venv/bin/nfbench
task=$1 knob=$2; shift 2
[ $# -gt 0 ] || { echo "usage: $0 TASK KNOB VALUE [VALUE ...]"; exit 2; }
configs=$([ "$task" = synth ] && echo ci/configs || echo "experiments/$task-ci")
out=results/$task-gap
runs=()
for n in "$@"; do
  for method in cot direct; do
    config=$configs/$method.yaml
    name=$task-gap-$knob$n
    # both methods on the CoT config's task options (CI's direct member trains on 1-step synth)
    opts=$(.venv/bin/python -c "import sys, yaml; o = yaml.safe_load(open(sys.argv[1])).get('task_options') or {}; \
o[sys.argv[2]] = int(sys.argv[3]); print(yaml.safe_dump(o, default_flow_style=True).strip())" "$configs/cot.yaml" "$knob" "$n")
    $nfbench train "$method" --config "$config" --set "task_options=$opts" --set "name=$name"
    $nfbench run --method "$method" --task "$task" --backbone tiny-llama --checkpoint "results/checkpoints/$method/$name" \
      --limit "${LIMIT:-100}" --set "task_options=$opts" --out "$out/runs/$method-$knob$n" --force
    runs+=("$out/runs/$method-$knob$n")
  done
done
$nfbench report "${runs[@]}" --out "$out/report"
echo "per run ($knob, method, pass@1, mean reasoning positions):"
for r in "${runs[@]}"; do
  .venv/bin/python - "$r" "$knob" <<'PY'
import json, sys
s = json.load(open(f"{sys.argv[1]}/summary.json"))
m = json.load(open(f"{sys.argv[1]}/manifest.json"))
value = m["config"]["task_options"].get(sys.argv[2])
p = s["pass_at_k"]["base"]["1"]
print(f"{sys.argv[2]}={value} {s['method']:7s} pass@1={p['value']:.2f} [{p['ci'][0]:.2f}, {p['ci'][1]:.2f}] "
      f"positions={s['cost']['reasoning_positions']['mean']:.1f}")
PY
done

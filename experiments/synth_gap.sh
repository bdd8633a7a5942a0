#!/usr/bin/env bash
# The synth suite's CoT-vs-direct gap as a function of the chain length (issue 4): for each number
# of steps, train `cot` and `direct` with the CI configs (ci/configs/{cot,direct}.yaml, only
# task_options.steps changed), run both greedy on synth test[:100] in the Docker sandbox, and print
# one report over all runs (pass@1 with CIs, reasoning positions).
#
#   bash experiments/synth_gap.sh [STEPS ...]      (default: 2 3 4 6; steps=1 has too few distinct chains for the splits; ~7 min per value on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
nfbench=.venv/bin/nfbench
steps=("$@"); [ ${#steps[@]} -gt 0 ] || steps=(2 3 4 6)
out=results/synth-gap
runs=()
for n in "${steps[@]}"; do
  for method in cot direct; do
    name=synth-gap-s$n
    $nfbench train "$method" --config "ci/configs/$method.yaml" --set "task_options.steps=$n" --set "name=$name"
    $nfbench run --method "$method" --task synth --backbone tiny-llama --checkpoint "results/checkpoints/$method/$name" \
      --limit 100 --set "task_options.steps=$n" --out "$out/runs/$method-s$n" --force
    runs+=("$out/runs/$method-s$n")
  done
done
$nfbench report "${runs[@]}" --out "$out/report"
echo "per run (steps, method, pass@1, mean reasoning positions):"
for r in "${runs[@]}"; do
  .venv/bin/python - "$r" <<'EOF'
import json, sys
s = json.load(open(f"{sys.argv[1]}/summary.json"))
m = json.load(open(f"{sys.argv[1]}/manifest.json"))
steps = m["config"]["task_options"].get("steps")
p = s["pass_at_k"]["base"]["1"]
print(f"steps={steps} {s['method']:7s} pass@1={p['value']:.2f} [{p['ci'][0]:.2f}, {p['ci'][1]:.2f}] "
      f"positions={s['cost']['reasoning_positions']['mean']:.1f}")
EOF
done

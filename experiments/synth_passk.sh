#!/usr/bin/env bash
# pass@1..8 on synth test[:100] (steps 4), n=8 samples per problem at temperature T (default 0.8;
# NF-CoT samples its latents at T_z=0.9), for `cot` and NF-CoT after stage 2 and after latent RL
# (issue 6), all on the checkpoints the last `nfbench regress` trained (newest of each method).
#
#   bash experiments/synth_passk.sh [T]        (~5 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
nfbench=.venv/bin/nfbench
temp=${1:-0.8}
cache=results/regress/checkpoints
newest() { ls -dt "$cache/$1"-* 2>/dev/null | head -1; }
cot=$(newest cot); nf=$(newest nfcot)
[ -n "$cot" ] && [ -n "$nf" ] || { echo "error: no regress checkpoints in $cache — run: nfbench regress"; exit 2; }
out=results/synth-passk
common=(--task synth --backbone tiny-llama --limit 100 --n-samples 8 --temperature "$temp" --seed 0)
$nfbench run --method cot --checkpoint "$cot" "${common[@]}" --out "$out/runs/cot" --force
$nfbench run --method nfcot --checkpoint "$nf/stage2" "${common[@]}" --out "$out/runs/nfcot-stage2" --force
$nfbench run --method nfcot --checkpoint "$nf/rl" "${common[@]}" --out "$out/runs/nfcot-rl" --force
$nfbench report "$out/runs/cot" "$out/runs/nfcot-stage2" "$out/runs/nfcot-rl" --out "$out/report"

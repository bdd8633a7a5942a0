#!/usr/bin/env bash
# The thinking-budget sweep of issue 24 on synth: every trained CI member (soft-thinking on the CoT
# model) at 1, 2, 4, 8, 16, 32 budget units, greedy on synth test[:60] in the Docker sandbox, one command
# (each method's model loaded once); then inspect NF-CoT and Latent-SFT at their trained settings.
#
#   bash experiments/budget_sweep.sh [CHECKPOINTS_DIR]   (default: results/regress/checkpoints, where
#   `nfbench regress` leaves them; the CoT model is the committed ci/cache one; ~1.5 min on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
nfbench=.venv/bin/nfbench
ck=${1:-results/regress/checkpoints}
pick() { ls -td "$1"/"$2"-*/ 2>/dev/null | head -1 | sed 's#/$##'; }
cot=$(pick ci/cache cot)
args=(--checkpoint "cot=$cot" --checkpoint "soft-thinking=$cot")
for m in coconut latent-sft nfcot pause; do
  dir=$(pick "$ck" "$m"); [ -n "$dir" ] || { echo "no $m checkpoint under $ck (run nfbench regress first)" >&2; exit 2; }
  args+=(--checkpoint "$m=$dir")
done
$nfbench sweep -m cot -m coconut -m latent-sft -m nfcot -m soft-thinking -m pause --task synth --backbone tiny-llama \
  --budget 1,2,4,8,16,32 --limit 60 --set batch_size=60 "${args[@]}" --out results/sweeps/budget-synth
for run in $(python3 -c "import json; print(' '.join(r['run'] for r in json.load(open('results/sweeps/budget-synth/sweep.json'))
    if (r['method'], r['budget']['value']) in {('nfcot', 4), ('latent-sft', 16)}))"); do
  $nfbench inspect "$run" --n 3
done

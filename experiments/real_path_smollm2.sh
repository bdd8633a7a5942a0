#!/usr/bin/env bash
# The real path on CPU, in pieces that each fit a ~15-minute turn on 2 cores: CoT data for MBPP
# distilled by the embedded SmolLM2-135M-Instruct, each of the six methods trained for mbpp on it,
# each run on MBPP+ (--limit 8) through the Docker sandbox, one report. Small step counts: the point
# is the path, not the numbers (a 135M model scores near zero).
#   bash experiments/real_path_smollm2.sh distill|train-text|train-latent|run-a|run-b|report
# Everything goes to $NFBENCH_RESULTS (default results/); re-running a piece resumes it.
set -euo pipefail
NF=${NF:-nfbench}
STEPS=${STEPS:-4}           # optimizer steps per stage
TINY=(--set trainer.max_steps=$STEPS --set trainer.batch_size=2 --set trainer.warmup_steps=0
      --set trainer.eval_problems=0 --set trainer.log_every=1)
RUN=(--task mbpp+ --limit 8)

case "${1:?piece}" in
  distill)  # 24 MBPP training problems x 4 candidates (the defaults' temperature 0.7, top-p 0.95)
    $NF data distill --limit "${LIMIT:-24}" -k 4 --max-new-tokens 256 --batch-size 16 ;;
  train-text)
    $NF train cot "${TINY[@]}"
    $NF train direct "${TINY[@]}"
    $NF train pause "${TINY[@]}"
    $NF train nfcot "${TINY[@]}" --set method_config.rl_group_size=4 --set method_config.rl_max_new_tokens=128 \
      --set method_config.stages.rl.trainer.max_steps=2 --set method_config.stages.rl.trainer.batch_size=1 ;;
  train-latent)  # Coconut at its GSM8k schedule's shape (c=2, 3 latent stages), 2 steps per stage
    $NF train coconut "${TINY[@]}" --set trainer.max_steps=2 --set method_config.c_thought=2 \
      --set method_config.epochs_per_stage=3 --set method_config.max_latent_stage=3 --set method_config.num_epochs=15
    $NF train latent-sft "${TINY[@]}" --set trainer.max_steps=2 ;;
  run-a)
    for m in cot direct pause soft-thinking; do $NF run --method $m "${RUN[@]}"; done ;;
  run-b)
    for m in nfcot coconut latent-sft; do $NF run --method $m "${RUN[@]}"; done ;;
  report)
    $NF report ;;
  *) echo "unknown piece $1" >&2; exit 2 ;;
esac

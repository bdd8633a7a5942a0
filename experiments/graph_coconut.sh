#!/usr/bin/env bash
# Coconut's ProsQA claim (Coconut >= CoT, with a pause-token control) on the easy graph suite, per
# seed: the CoT model of experiments/graph-suite.md runs 21-22 (6000 constant-lr steps on the default
# 20,000 graphs, then 6000 more on 100,000), then Coconut's curriculum and the pause control from it
# (experiments/graph-ci/{coconut,pause}-nodes.yaml), each evaluated greedy on the first 100 test graphs.
#   bash experiments/graph_coconut.sh SEED      # outputs under $OUT/sSEED (default /tmp/graph-coconut)
# Re-running resumes (every train and run command resumes). One core per seed: OMP_NUM_THREADS=1.
# Results: experiments/graph-suite.md, "Coconut and the pause control".
set -euo pipefail
cd "$(dirname "$0")/.."
SEED=${1:?usage: graph_coconut.sh SEED}
OUT=${OUT:-/tmp/graph-coconut}/s$SEED
NF=${NFBENCH:-.venv/bin/nfbench}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
TASK="task_options={depth: 2, distractors: 1, reasoning: nodes}"
mkdir -p "$OUT"

evaluate() {  # method name
    $NF run --method "$1" --task graph --backbone tiny-llama --checkpoint "$OUT/$2" --limit 100 \
        --set "$TASK" --out "$OUT/run-$2"
}
$NF train cot --config experiments/graph-ci/cot.yaml --set seed="$SEED" --set "$TASK" \
    --set trainer.max_steps=6000 --set trainer.schedule=constant --set out="$OUT/cot6k"
$NF train cot --config experiments/graph-ci/cot.yaml --set seed="$SEED" --init-from "$OUT/cot6k" \
    --set "task_options={depth: 2, distractors: 1, reasoning: nodes, n_train: 100000}" \
    --set trainer.max_steps=6000 --set trainer.schedule=constant --set trainer.warmup_steps=0 \
    --set out="$OUT/cot12k"
evaluate cot cot12k
$NF train coconut --config experiments/graph-ci/coconut-nodes.yaml --set seed="$SEED" \
    --init-from "$OUT/cot12k" --set out="$OUT/coconut"
evaluate coconut coconut
$NF train pause --config experiments/graph-ci/pause-nodes.yaml --set seed="$SEED" \
    --init-from "$OUT/cot12k" --set out="$OUT/pause"
evaluate pause pause

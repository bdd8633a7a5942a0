#!/usr/bin/env bash
# Shows that `nfbench regress` catches a broken method: on a throwaway copy of the repository
# (git worktree at HEAD), sabotage one method, run the regression on it, expect a non-zero exit.
# The shared tree and its venv are not modified: the copy is imported through a PYTHONPATH shim.
#
#   bash ci/broken_copy.sh [cot|direct|coconut|latent-sft|nfcot|pause|soft-thinking] [--reuse]   (heavy: wrap in flock)
# --reuse evaluates on the main tree's cached regress checkpoints instead of retraining.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
which=${1:-cot}
copy=$(mktemp -d /tmp/nfbench-broken.XXXX)
shim=$(mktemp -d /tmp/nfbench-shim.XXXX)
cleanup() { git -C "$repo" worktree remove --force "$copy/repo" >/dev/null 2>&1 || true; rm -rf "$copy" "$shim"; }
trap cleanup EXIT

git -C "$repo" worktree add --detach "$copy/repo" HEAD >/dev/null
case "$which" in
  cot)  # the CoT model no longer reasons before answering
    sed -i 's/^    reasons = True$/    reasons = False/' "$copy/repo/methods/text.py"
    ! grep -q '^    reasons = True$' "$copy/repo/methods/text.py" ;;
  direct)  # direct never reads the problem: it is trained on empty prompts (its answers learned unconditioned)
    cat >> "$copy/repo/methods/text.py" <<'EOF'


def _unconditioned(fmt, ex):  # sabotage (ci/broken_copy.sh)
    from nfbench.harness.batching import encode
    return encode(fmt.tokenizer, fmt.prompt_ids(""), fmt.target(ex))


Direct.stages = lambda self: [sft_stage(self.name, False, lambda bb, fmt: TextGenerator(TextStream(bb, fmt)),
                                        self.config.val_max_new_tokens, encode=_unconditioned)]
EOF
    grep -q '^Direct.stages = ' "$copy/repo/methods/text.py" ;;
  coconut)  # at inference each row is fed another row's continuous thought (a batch-index bug)
    # (thoughts zeroed instead are not caught: the CI model then answers from the prompt, 0.98 -> 0.93;
    # a wrong thought misleads it, 0.98 -> 0.68: experiments/NOTES.md)
    sed -i 's/^        x = out.hidden\[:, None\]$/        x = out.hidden[:, None].roll(1, 0)/' "$copy/repo/methods/coconut/latent.py"
    grep -q 'out.hidden\[:, None\].roll(1, 0)' "$copy/repo/methods/coconut/latent.py" ;;
  nfcot)  # at inference the sampled latents are zeros: the flow's thoughts are gone, the code still runs
    sed -i 's/^        u = mu + t_z \* sigma \* z$/        u = (mu + t_z * sigma * z) * 0.0/' "$copy/repo/methods/nfcot/decode.py"
    grep -q 'u = (mu + t_z \* sigma \* z) \* 0.0' "$copy/repo/methods/nfcot/decode.py" ;;
  latent-sft)  # at inference the latents (soft top-k embeddings) are zeros: what they carry is gone
    sed -i 's/^        soft = mix(probs, top, W)$/        soft = mix(probs, top, W) * 0.0/' "$copy/repo/methods/latent_sft/decode.py"
    grep -q 'soft = mix(probs, top, W) \* 0.0' "$copy/repo/methods/latent_sft/decode.py" ;;
  soft-thinking)  # the concept tokens fed back are zeros: the soft reasoning is gone, the code still runs
    sed -i 's/^        x = (weights.to(emb.dtype) @ emb)\[:, None\]$/        x = (weights.to(emb.dtype) @ emb)[:, None] * 0.0/' "$copy/repo/methods/soft_thinking_core.py"
    grep -q '@ emb)\[:, None\] \* 0.0' "$copy/repo/methods/soft_thinking_core.py" ;;
  pause)  # the answer's first token is read before the pauses (they are fed, but after it is chosen)
    sed -i -e 's/^        s.prefill(batch)$/        early = s.prefill(batch).logits/' \
      -e 's/^\(        \)logits = \(step(s.backbone.model, batch.state, input_ids=pauses, meter=batch.meter)\).logits$/\1\2\n\1logits = early/' \
      "$copy/repo/methods/pause.py"
    grep -q '^        logits = early$' "$copy/repo/methods/pause.py" ;;
  *) echo "unknown sabotage '$which' (cot|direct|coconut|latent-sft|nfcot|pause|soft-thinking)"; exit 2 ;;
esac
git -C "$copy/repo" diff --stat

mkdir -p "$shim/nfbench" && touch "$shim/nfbench/__init__.py"
for d in harness methods tasks sandbox; do ln -s "$copy/repo/$d" "$shim/nfbench/$d"; done
members=(-m "$which")  # with the members it starts from
# --reuse: evaluate the sabotaged inference code on the weights the main tree's regress trained
extra=()
if [ "${2:-}" = "--reuse" ]; then
  mkdir -p "$copy/results/regress" && ln -s "$repo/results/regress/checkpoints" "$copy/results/regress/checkpoints"
  extra=(--reuse-checkpoints)
fi
set +e
(cd "$copy/repo" && NFBENCH_RESULTS="$copy/results" PYTHONPATH="$shim" "$repo/.venv/bin/python" -c \
  'import sys; from nfbench.harness.cli import main; sys.argv[0] = "nfbench"; main()' \
  regress --suite "$copy/repo/ci/suite.yaml" "${members[@]}" "${extra[@]}") 2>&1 | tee "$copy/regress.log"
rc=${PIPESTATUS[0]}
set -e
echo "nfbench regress on the sabotaged copy ($which) exited with $rc"
[ "$rc" -ne 0 ] || { echo "BAD: the regression did not notice the broken method"; exit 1; }
# caught for the right reason: a metric outside its tolerance, not a crash of the harness
if grep -q "^FAILED " "$copy/regress.log" || ! grep -q "^FAIL .*\(pass@1\|reasoning positions\)" "$copy/regress.log"; then
  echo "BAD: the regression failed, but not on a pass@1/positions check (see the log above)"; exit 1
fi
echo "OK: the broken method was caught"

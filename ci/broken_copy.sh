#!/usr/bin/env bash
# Shows that `nfbench regress` catches a broken method: on a throwaway copy of the repository
# (git worktree at HEAD), sabotage one method, run the regression on it, expect a non-zero exit.
# The shared tree and its venv are not modified: the copy is imported through a PYTHONPATH shim.
#
#   bash ci/broken_copy.sh [cot|coconut|nfcot] [--reuse]   (heavy: wrap in flock on shared machines)
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
  coconut)  # at inference the continuous thoughts are zeros: the mechanism is gone, the code still runs
    sed -i 's/^        x = out.hidden\[:, None\]$/        x = out.hidden[:, None] * 0.0/' "$copy/repo/methods/coconut/latent.py"
    grep -q 'out.hidden\[:, None\] \* 0.0' "$copy/repo/methods/coconut/latent.py" ;;
  nfcot)  # at inference the sampled latents are zeros: the flow's thoughts are gone, the code still runs
    sed -i 's/^        u = mu + t_z \* sigma \* z$/        u = (mu + t_z * sigma * z) * 0.0/' "$copy/repo/methods/nfcot/decode.py"
    grep -q 'u = (mu + t_z \* sigma \* z) \* 0.0' "$copy/repo/methods/nfcot/decode.py" ;;
  *) echo "unknown sabotage '$which' (cot|coconut|nfcot)"; exit 2 ;;
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

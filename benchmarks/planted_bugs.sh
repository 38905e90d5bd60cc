#!/usr/bin/env bash
# Plant each cost-model bug in turn, run the core tests, and report whether the suite catches it (it
# must: "FAILED (caught)"). Every bug is planted in a private copy of the tree (a temporary folder),
# never in the working tree: other work in the checkout is never touched, and no git command runs.
#   usage: benchmarks/planted_bugs.sh [pytest args, default tests/core]
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
SRC=$PWD
WORK=$(mktemp -d /tmp/planted.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
tests=("${@:-tests/core}")

fresh_copy() {  # the tree as it is now, in $WORK/tree (profiles are read from the checkout)
  rm -rf "$WORK/tree" && mkdir -p "$WORK/tree"
  cp -r "$SRC/splittui" "$SRC/tests" "$SRC/profiles" "$SRC/pyproject.toml" "$WORK/tree/"
}

plant() {  # name file old new [old new ...]: each `old` must occur exactly once in file
  local name=$1 file=$2
  shift 2
  fresh_copy
  "$PY" - "$WORK/tree/$file" "$@" <<'PYEOF' || exit 2
import sys
path, pairs = sys.argv[1], sys.argv[2:]
text = open(path).read()
for old, new in zip(pairs[::2], pairs[1::2]):
    assert text.count(old) == 1, f"{path}: pattern not found once: {old!r}"
    text = text.replace(old, new)
open(path, "w").write(text)
PYEOF
  run_suite "$name"
}

run_suite() {  # name: run the tests on $WORK/tree, one line of verdict
  local t0=$SECONDS
  if (cd "$WORK/tree" && PYTHONPATH="$WORK/tree" "$PY" -m pytest -q -x -rfE -p no:cacheprovider "${tests[@]}" \
        >"$WORK/log" 2>&1); then
    echo "$1: suite PASSED (bug not caught) [$((SECONDS - t0)) s]"
    return 0
  fi
  echo "$1: suite FAILED (caught) [$((SECONDS - t0)) s] -- $(grep -m1 -E '^FAILED|^ERROR' "$WORK/log")"
  return 1
}

# The suite must pass without a bug, or every verdict below would be meaningless.
fresh_copy
run_suite "0 no bug planted (must pass)" >/dev/null || {
  echo "the suite fails with no bug planted: fix it (or pass pytest args that deselect the failing tests) first" >&2
  grep -m3 -E '^FAILED|^ERROR' "$WORK/log" >&2
  exit 2
}
echo "0 no bug planted: suite PASSED"

plant "1 output upload without its network delay" splittui/costs.py \
  "up_out_ms=sc.delay_ms + out_bytes * up_per_byte" "up_out_ms=out_bytes * up_per_byte"
plant "2 downloads priced at the upload rate" splittui/costs.py \
  "down_per_byte = 8.0 / ((sc.down_mbps if sc.down_mbps is not None else sc.up_mbps) * 1e3)" \
  "down_per_byte = 8.0 / (sc.up_mbps * 1e3)"
plant "3 exact solver ignoring the answer's final transfer" splittui/solvers/exact.py \
  "on_c = 0.0 if c.end_client else float(c.up_out_ms)" "on_c = 0.0" \
  "on_s = float(c.down_out_ms) if c.end_client else 0.0" "on_s = 0.0" \
  "if t + tail <= limit and" "if t <= limit and"

# Generation (SPEC §8): decode steps and the request's times and memory (issue 34)
plant "4 decode downloads priced at the upload rate" splittui/generation.py \
  "8.0 / (float(sc.down_mbps or sc.up_mbps) * 1e3)" "8.0 / (sc.up_mbps * 1e3)"
plant "5 decode steps paying the network delay once per request, not once per step" splittui/generation.py \
  "delays = n * sc.delay_ms" "delays = sc.delay_ms"
plant "6 server memory holding the KV cache of the prompt only (s, not s+N-1 tokens)" splittui/generation.py \
  "weights + kv * kv_tokens(s, n)" "weights + kv * s"
plant "7 TPOT divided by the N output tokens instead of the N-1 decode steps" splittui/generation.py \
  "tpot_ms=dec / ph.steps if ph.steps else None" "tpot_ms=dec / (ph.steps + 1) if ph.steps else None"
plant "8 a fixed-size return (token id, top-k) sent once per request, not once per decode step" splittui/generation.py \
  "out = n * returned_bytes(" "out = returned_bytes("

# The device model (SPEC §9): roofline, KV cache and memory traffic (issue 34)
plant "9 roofline taking the smaller of the compute and memory times" splittui/devices.py \
  "return (compute if compute > memory else memory) * 1e3" "return (compute if compute < memory else memory) * 1e3"
plant "10 roofline using the 16-bit peak for fp32 weights" splittui/devices.py \
  "peak = (self.fp32_tflops if fp32 else self.fp16_tflops) * 1e12" "peak = self.fp16_tflops * 1e12"
plant "11 KV cache per token sized by the query heads (GQA ignored)" splittui/hf_config.py \
  "kv_tok = 2.0 * a.d_kv * ab" "kv_tok = 2.0 * a.d_q * ab"
plant "12 decode steps' memory traffic without the KV cache they read" splittui/llm.py \
  "dmoved = [r.in_bytes + o + r.weights_read + r.kv_read for" "dmoved = [r.in_bytes + o + r.weights_read for"

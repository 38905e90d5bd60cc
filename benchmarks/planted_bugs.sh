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
  if (cd "$WORK/tree" && PYTHONPATH="$WORK/tree" "$PY" -m pytest -q -x -p no:cacheprovider "${tests[@]}" \
        >"$WORK/log" 2>&1); then
    echo "$name: suite PASSED (bug not caught)"
  else
    echo "$name: suite FAILED (caught) -- $(grep -m1 -E '^FAILED|^ERROR' "$WORK/log")"
  fi
}

plant "1 output upload without its network delay" splittui/costs.py \
  "up_out_ms=sc.delay_ms + out_bytes * up_per_byte" "up_out_ms=out_bytes * up_per_byte"
plant "2 downloads priced at the upload rate" splittui/costs.py \
  "down_per_byte = 8.0 / (sc.down_mbps * 1e3)" "down_per_byte = 8.0 / (sc.up_mbps * 1e3)"
plant "3 exact solver ignoring the answer's final transfer" splittui/solvers/exact.py \
  "rem_c[L] = 0.0 if c.end_client else c.up_out_ms" "rem_c[L] = 0.0" \
  "rem_s[L] = c.down_out_ms if c.end_client else 0.0" "rem_s[L] = 0.0" \
  "        ok = np.flatnonzero(lat + tail <= limit)" "        tail = 0.0
        ok = np.flatnonzero(lat + tail <= limit)"

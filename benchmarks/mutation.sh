#!/usr/bin/env bash
# Mutation testing of the numerical core (not in CI): mutmut over costs.py, solvers/, policy.py, sim/,
# generation.py, hf_config.py, llm.py and devices.py with the fast core tests ([tool.mutmut] in
# pyproject.toml), then the score per module (solvers/request.py also on its own row).
#
#   benchmarks/mutation.sh                 every module, from scratch (mutants/ is rebuilt)
#   benchmarks/mutation.sh costs solvers   only these (mutant-name globs: splittui.costs*, ...)
#   benchmarks/mutation.sh generation solvers/request   (a path's / becomes a dot: splittui.solvers.request*)
#   KEEP=1 benchmarks/mutation.sh          reuse mutants/ (only unchecked mutants run)
#   benchmarks/mutation.sh --report        print the table of the last run only
#   benchmarks/mutation.sh --sample N costs solvers
#                                          a seeded random sample of N mutants per module, taken from the
#                                          mutants/ of an earlier (even interrupted) run; the tests are
#                                          refreshed there first. The report then covers the sample only.
#                                          SAMPLE_FILE=names.txt: that list of mutant names instead.
#
# Environment: MUTMUT (default: mutmut on PATH), PYTHON, JOBS (parallel workers, default: CPU count),
# HYPOTHESIS_PROFILE (default "mutation": few examples, derandomised; see tests/core/conftest.py).
# Target (issue 15): >= 90 % killed in costs.py and solvers/. Survivors: `mutmut show NAME`.
# Slow: minutes per module on a quiet 2-core machine; say how loaded the machine was with the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
MUTMUT=${MUTMUT:-mutmut}
PYTHON=${PYTHON:-python}
export HYPOTHESIS_PROFILE=${HYPOTHESIS_PROFILE:-mutation}
unset PYTHONPATH   # the tests must import the mutated copy in mutants/, never this tree

report() {
  "$PYTHON" - <<'PYEOF'
import json
from collections import Counter
from pathlib import Path

groups = {"costs.py": "splittui/costs.py", "solvers/": "splittui/solvers/", "policy.py": "splittui/policy.py",
          "sim/": "splittui/sim/", "generation": "splittui/generation.py", "hf_config": "splittui/hf_config.py",
          "llm.py": "splittui/llm.py", "devices.py": "splittui/devices.py"}
also = {"request.py": "splittui/solvers/request.py"}   # a second row for a file inside a group
# mutmut's exit codes (mutmut.stats.status_by_exit_code)
status = {1: "killed", 3: "killed", 37: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped",
          36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout", None: "not checked"}
rows = {g: Counter() for g in (*groups, *also)}
survivors = []
sample_file = Path("mutants/sample.txt")
sample = set(sample_file.read_text().split()) if sample_file.exists() else None
if sample is not None:
    print(f"(the {len(sample)} sampled mutants of {sample_file} only)")
for meta in sorted(Path("mutants/splittui").rglob("*.py.meta")):
    src = str(meta.relative_to("mutants"))[: -len(".meta")]
    group = next((g for g, prefix in groups.items() if src.startswith(prefix)), None)
    if group is None:
        continue
    for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
        if sample is not None and name not in sample:
            continue
        st = status.get(code, "suspicious")
        rows[group][st] += 1
        for g, prefix in also.items():
            if src.startswith(prefix):
                rows[g][st] += 1
        if st in ("survived", "no tests", "suspicious"):
            survivors.append(f"{st:9} {name}")
print(f"{'module':10} {'mutants':>7} {'killed':>7} {'timeout':>7} {'survived':>8} {'no tests':>8} {'other':>5} "
      f"{'unchecked':>9} {'score':>6}")
for g, c in rows.items():
    n = sum(c.values()) - c["not checked"]
    if not n:
        continue
    dead = c["killed"] + c["timeout"]
    other = n - dead - c["survived"] - c["no tests"]
    print(f"{g:10} {n:7} {c['killed']:7} {c['timeout']:7} {c['survived']:8} {c['no tests']:8} {other:5} "
          f"{c['not checked']:9} {100 * dead / n:5.1f}%")
print("score = (killed + timeout) / checked mutants ('no tests' counts as not killed; 'unchecked': not run)")
if survivors:
    print("\nnot killed (mutmut show NAME):")
    print("\n".join(survivors))
PYEOF
}

sample_names() {  # N module...: N seeded-random mutant names per module from mutants/*.meta
  "$PYTHON" - "$@" <<'PYEOF'
import json, random, sys
from pathlib import Path
n, modules = int(sys.argv[1]), sys.argv[2:]
for m in modules:
    prefix = "splittui." + m.removesuffix(".py").strip("/").replace("/", ".")   # solvers/request -> splittui.solvers.request
    names = sorted(k for meta in Path("mutants/splittui").rglob("*.py.meta")
                   for k in json.loads(meta.read_text())["exit_code_by_key"] if k.startswith(prefix + "."))
    print("\n".join(sorted(random.Random(15).sample(names, min(n, len(names))))))
PYEOF
}

case "${1:-}" in
  --report) report; exit 0 ;;
  --sample)
    n=$2; shift 2
    [[ -d mutants/splittui ]] || { echo "--sample needs mutants/ from an earlier run" >&2; exit 2; }
    rm -rf mutants/tests && cp -r tests mutants/tests      # mutmut never refreshes a copied file
    if [[ -n "${SAMPLE_FILE:-}" ]]; then cp "$SAMPLE_FILE" mutants/sample.txt; else sample_names "$n" "$@" > mutants/sample.txt; fi
    mapfile -t names < mutants/sample.txt
    # the sampled mutants not killed yet (mutmut reruns every name it is given)
    mapfile -t todo < <("$PYTHON" - <<'PYEOF'
import json
from pathlib import Path
want = Path("mutants/sample.txt").read_text().split()
code = {}
for meta in Path("mutants/splittui").rglob("*.py.meta"):
    code.update(json.loads(meta.read_text())["exit_code_by_key"])
print("\n".join(k for k in want if code.get(k) in (None, 0, 33)))   # unchecked, survived, no tests
PYEOF
)
    echo "sample: ${#names[@]} mutants, ${#todo[@]} to run"
    if (( ${#todo[@]} )); then
      "$MUTMUT" run --max-children "${JOBS:-$(nproc)}" "${todo[@]}" 2>&1 | tr '\r' '\n' \
        | grep -vE 'Generating mutants|Running stats|Running clean tests|Listing all tests|^ *$' | tail -n 4 || true
    fi
    report; exit 0 ;;
esac
[[ -n "${KEEP:-}" ]] || rm -rf mutants
rm -f mutants/sample.txt
globs=()
for m in "$@"; do m=${m%.py}; m=${m%/}; globs+=("splittui.${m//\//.}*"); done
# mutmut redraws a progress line with \r: keep its last state only
"$MUTMUT" run --max-children "${JOBS:-$(nproc)}" "${globs[@]}" 2>&1 | tr '\r' '\n' \
  | grep -vE 'Generating mutants|Running stats|Running clean tests|Listing all tests|^ *$' | tail -n 4 || true
report

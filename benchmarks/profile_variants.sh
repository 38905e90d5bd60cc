#!/usr/bin/env bash
# Regenerate the shipped attention-variant profiles (profiles/<model>@<kind>-<size>.json): bert-base
# and gpt2-like at lowrank:256 and sparse:64, with the same procedure and lengths as profile_all.sh.
# Usage: benchmarks/profile_variants.sh [model ...]   (default: bert-base gpt2-like). Logs wall times.
set -euo pipefail
cd "$(dirname "$0")/.."
SPLITTUI=${SPLITTUI:-.venv/bin/splittui}
models=("${@:-bert-base gpt2-like}")
for m in ${models[@]}; do
  for a in lowrank:256 sparse:64; do
    out="profiles/$m@${a/:/-}.json"
    start=$(date +%s)
    echo "== $m $a: splittui profile --model $m --attention $a --seq 128,256,512,1024,2048,4096 --threads 1 --repeats 5 --server rtx3090 --out $out --force (load $(cut -d' ' -f1 /proc/loadavg))"
    $SPLITTUI profile --model "$m" --attention "$a" --seq 128,256,512,1024,2048,4096 --threads 1 --repeats 5 \
      --server rtx3090 --out "$out" --force
    echo "== $m $a: wall $(( $(date +%s) - start )) s (load $(cut -d' ' -f1 /proc/loadavg))"
  done
done

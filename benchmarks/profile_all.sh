#!/usr/bin/env bash
# Regenerate the shipped measured profiles (profiles/*.json), one model after another.
# Usage: benchmarks/profile_all.sh [model ...]   (default: all four). Logs wall times to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
SPLITTUI=${SPLITTUI:-.venv/bin/splittui}
models=("${@:-gpt2-like bert-base transformer cmt-s}")
for m in ${models[@]}; do
  if [ "$m" = cmt-s ]; then seq=224,448,672,896; else seq=128,256,512,1024,2048,4096; fi
  start=$(date +%s)
  echo "== $m: $SPLITTUI profile --model $m --seq $seq --threads 1 --repeats 5 --server rtx3090 --out profiles/$m.json --force"
  "$SPLITTUI" profile --model "$m" --seq "$seq" --threads 1 --repeats 5 --server rtx3090 --out "profiles/$m.json" --force
  echo "== $m: wall $(( $(date +%s) - start )) s"
done

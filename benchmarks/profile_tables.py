"""Print the tables of profiles/README.md from the shipped profiles (nothing is measured here).

    python benchmarks/profile_tables.py

1. Per full profile: when and how long it was measured, the load meanwhile, and the whole model on the
   client (the sum of `client_ms`) at each length.
2. Per shipped attention variant: the whole model and its attention cores on the client, full -> variant,
   the attention GFLOP, and the stages the two share (all but the cores): variant / full client time,
   which is ~1 when both were measured the same way.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FULL = ("gpt2-like", "bert-base", "transformer", "cmt-s")
VARIANTS = ("bert-base@lowrank-256", "bert-base@sparse-64", "gpt2-like@lowrank-256", "gpt2-like@sparse-64")


def _doc(name: str) -> dict:
    return json.loads((ROOT / "profiles" / f"{name}.json").read_text())


def _sums(doc: dict, keep) -> list[float]:
    n = len(doc["seq_lens"])
    return [sum(layer["client_ms"][k] for layer in doc["layers"] if keep(layer)) for k in range(n)]


def _when(doc: dict) -> str:
    src = doc["source"]
    return (f"{src.get('created', '?')[:16].replace('T', ' ')} UTC, {src.get('wall_s', 0):,.0f} s, load "
            f"{src.get('load_avg_1min')}, other processes {src.get('other_cpu_cores')} cores")


def full_table() -> None:
    print("| model | measured (wall, load, other processes) | client ms at each length (sum of client_ms) |")
    print("|---|---|---|")
    for name in FULL:
        doc = _doc(name)
        sums = _sums(doc, lambda layer: True)
        lens = ", ".join(f"{s}: {v:,.0f}" for s, v in zip(doc["seq_lens"], sums, strict=True))
        print(f"| {name} | {_when(doc)} | {lens} |")


def variant_tables() -> None:
    for name in VARIANTS:
        doc, full = _doc(name), _doc(name.split("@")[0])
        att = [layer["kind"] == "attention" for layer in full["layers"]]
        print(f"\n`{name}.json`: {_when(doc)}\n")
        print("| seq | Σ client ms full → variant | attention client ms full → variant | "
              "attention GFLOP full → variant | shared stages variant / full |")
        print("|---:|---|---|---|---:|")
        for k, s in enumerate(full["seq_lens"]):
            def tot(d, pick, key="client_ms", k=k):
                return sum(layer[key][k] for layer, a in zip(d["layers"], att, strict=True) if pick(a))
            row = [f"{tot(full, lambda a: True):,.0f} → {tot(doc, lambda a: True):,.0f}",
                   f"{tot(full, bool):,.0f} → {tot(doc, bool):,.0f}",
                   f"{tot(full, bool, 'flops') / 1e9:,.1f} → {tot(doc, bool, 'flops') / 1e9:,.1f}",
                   f"{tot(doc, lambda a: not a) / tot(full, lambda a: not a):.2f}"]
            print(f"| {s} | " + " | ".join(row) + " |")


def main() -> int:
    full_table()
    variant_tables()
    return 0


if __name__ == "__main__":
    sys.exit(main())

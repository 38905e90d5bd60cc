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


def _sums(doc: dict) -> list[float]:
    """The whole model on the client at each length: the sum of its stages' `client_ms`."""
    return [sum(col) for col in zip(*(layer["client_ms"] for layer in doc["layers"]), strict=True)]


def _when(doc: dict) -> str:
    src = doc["source"]
    return (f"{src.get('created', '?')[:16].replace('T', ' ')} UTC, {src.get('wall_s', 0):,.0f} s, load "
            f"{src.get('load_avg_1min')}, other processes {src.get('other_cpu_cores')} cores")


def full_table() -> None:
    print("| model | measured (wall, load, other processes) | client ms at each length (sum of client_ms) |")
    print("|---|---|---|")
    for name in FULL:
        doc = _doc(name)
        sums = _sums(doc)
        lens = ", ".join(f"{s}: {v:,.0f}" for s, v in zip(doc["seq_lens"], sums, strict=True))
        print(f"| {name} | {_when(doc)} | {lens} |")


def _total(doc: dict, at: list[bool], k: int, pick, key: str = "client_ms") -> float:
    """`key` at length index k summed over the stages whose attention flag `pick` keeps."""
    return sum(layer[key][k] for layer, a in zip(doc["layers"], at, strict=True) if pick(a))


def variant_tables() -> None:
    def every(a):
        return True

    def shared(a):
        return not a

    for name in VARIANTS:
        doc, full = _doc(name), _doc(name.split("@")[0])
        at = [layer["kind"] == "attention" for layer in full["layers"]]
        print(f"\n`{name}.json`: {_when(doc)}\n")
        print("| seq | Σ client ms full → variant | attention client ms full → variant | "
              "attention GFLOP full → variant | shared stages variant / full |")
        print("|---:|---|---|---|---:|")
        for k, s in enumerate(full["seq_lens"]):
            row = [f"{_total(full, at, k, every):,.0f} → {_total(doc, at, k, every):,.0f}",
                   f"{_total(full, at, k, bool):,.0f} → {_total(doc, at, k, bool):,.0f}",
                   f"{_total(full, at, k, bool, 'flops') / 1e9:,.1f} → {_total(doc, at, k, bool, 'flops') / 1e9:,.1f}",
                   f"{_total(doc, at, k, shared) / _total(full, at, k, shared):.2f}"]
            print(f"| {s} | " + " | ".join(row) + " |")


def main() -> int:
    full_table()
    variant_tables()
    return 0


if __name__ == "__main__":
    sys.exit(main())

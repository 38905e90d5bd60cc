"""The client-energy table of issue 29: three client devices x two radios, one LLM request each.

For each cell: llama-3.2-1b (analytic profile, bf16, server a100-80gb), a 512-token prompt and 128 output
tokens, request deadline 20 s, the link of `--up-mbps/--down-mbps/--delay-ms` (default the scenario's 100/100
Mbit/s, 10 ms). Columns: the client's joules per request of all-client, of no-split (the server does
everything) and of the least-energy policy (exact, objective client_energy), that policy's server share, its
joules per decode step, and the server's joules for it (at TDP: an upper bound); then the least server share
(exact, objective flops) whose client energy is at most half of all-client's, and that policy's joules: the
trade of server work against the client's battery. Every figure is an estimate
(docs/energy.md); the power presets and radio models carry their sources in splittui/energy.py.

    python benchmarks/energy_table.py [--devices phone-soc,jetson-orin,laptop-cpu] [--radios wifi,lte] [--json]
"""

from __future__ import annotations

import argparse
import json

from splittui.llm import profile_for
from splittui.model import Scenario
from splittui.solvers import solve


def cell(device: str, radio: str, args: argparse.Namespace) -> dict:
    prof = profile_for("llama-3.2-1b", client_device=device, server_device="a100-80gb")
    sc = Scenario(deadline_ms=args.deadline_ms, seq_len=512, gen_tokens=128, up_mbps=args.up_mbps,
                  down_mbps=args.down_mbps, delay_ms=args.delay_ms, radio=radio, objective="client_energy")
    res = {s: solve(prof, sc, s) for s in ("all-client", "no-split", "exact", "greedy")}

    def j(name: str) -> float | None:
        r = res[name]
        return r.client_energy_j if r.policy is not None else None

    best = res["exact"]
    half = None if j("all-client") is None else solve(prof, sc.replace(objective="flops",
                                                                       client_energy_j=j("all-client") / 2), "exact")
    return {"half_server_share": None if half is None or not half.feasible else half.server_share,
            "half_j": None if half is None or not half.feasible else half.client_energy_j,
            "device": device, "radio": radio, "all_client_j": j("all-client"), "no_split_j": j("no-split"),
            "greedy_j": j("greedy"), "least_j": j("exact"), "least_server_share": best.server_share,
            "least_j_per_token": best.client_j_per_token, "least_server_j": best.server_energy_j,
            "least_latency_ms": best.latency_ms, "least_feasible": best.feasible}


def _f(v: float | None, fmt: str = ".3g") -> str:
    return "—" if v is None else format(v, fmt)


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f} %"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", default="phone-soc,jetson-orin,laptop-cpu")
    ap.add_argument("--radios", default="wifi,lte")
    ap.add_argument("--up-mbps", type=float, default=100.0)
    ap.add_argument("--down-mbps", type=float, default=100.0)
    ap.add_argument("--delay-ms", type=float, default=10.0)
    ap.add_argument("--deadline-ms", type=float, default=20000.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = [cell(d, r, args) for d in args.devices.split(",") for r in args.radios.split(",")]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"llama-3.2-1b bf16 -> a100-80gb · seq 512 · 128 output tokens · deadline {args.deadline_ms:g} ms · "
          f"up {args.up_mbps:g} / down {args.down_mbps:g} Mbit/s · delay {args.delay_ms:g} ms · ESTIMATES "
          "(docs/energy.md)")
    head = ("device", "radio", "all-client J", "no-split J", "greedy J", "least J", "its server share",
            "its J/tok", "its server J", "least share at <= half all-client J", "its J")
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    for r in rows:
        share = _pct(r["least_server_share"])
        print(" | ".join((r["device"], r["radio"], _f(r["all_client_j"]), _f(r["no_split_j"]), _f(r["greedy_j"]),
                          _f(r["least_j"]) + ("" if r["least_feasible"] else " (late)"), share,
                          _f(r["least_j_per_token"]), _f(r["least_server_j"]), _pct(r["half_server_share"]),
                          _f(r["half_j"]))))


if __name__ == "__main__":
    main()

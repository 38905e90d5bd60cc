"""Why the binding-limit search stays a label pass (issue 25 item 6): the block-multiset view, measured.

A transformer chain repeats one block: a policy's totals depend only on the multiset of its blocks' (entry side,
pattern) items, so the search could choose item counts instead of layer sides. This probe measures the two
things that decide whether that is faster, on the phone case of `bench_constrained.py` (llama-3.1-8b, phone-soc
-> a100-80gb, seq 1024, 256 output tokens, deadline 60 s, embed and head pinned to the client, the phone's
memory; the largest activation cap's case):

1. the items left per (entry, exit) side pair after dropping dominated patterns, and the exact Pareto fronts of
   (latency, -reward, client bytes) over sequences of 2, 4, 8 (and with --sixteen 16) blocks, built by doubling
   (no bound pruning): the sizes a front-based method must carry;
2. the Lagrangian bound (latency and bytes priced, grid search) above the proven optimum with the number of
   block-boundary crossings fixed, and with the number of whole client blocks fixed, against the spread of the
   items' priced values: a branch and bound over item counts prunes only items whose priced value is further
   below the best than that gap.

    .venv/bin/python benchmarks/probe_block_items.py [--sixteen]
"""

from __future__ import annotations

import argparse
import bisect
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from splittui.cli import build_parser  # noqa: E402
from splittui.commands.common import profile_from_args, scenario_from_args  # noqa: E402
from splittui.solvers import constrained as K  # noqa: E402
from splittui.solvers import solve  # noqa: E402
from splittui.solvers.constrained_case import _act_caps, _cases  # noqa: E402
from splittui.solvers.constrained_labels import _blocks  # noqa: E402

ARGS = ("solve --model llama-3.1-8b --server-device a100-80gb --seq 1024 --gen-tokens 256 --deadline-ms 60000 "
        "--client-device phone-soc --pin-client embed,head --client-mem-gb device").split()


def captured():
    """The exact solver's inputs (chains, reward, costs, limits) on the phone case, and its answer."""
    got = {}
    orig = K._solve

    def spy(chains, reward, c, lims, deadline=None):
        got["args"] = (chains, reward, c, lims)
        return orig(chains, reward, c, lims, deadline)

    K._solve = spy
    try:
        a = build_parser().parse_args(ARGS)
        prof = profile_from_args(a)
        res = solve(prof, scenario_from_args(a, prof), "exact")
    finally:
        K._solve = orig
    return got["args"], res


def segment(chain, reward, case, lo, hi, entry):
    """Every pin-consistent pattern of layers [lo, hi) entered from `entry` (1 client): rows (t, -r, bytes)."""
    m = hi - lo
    P = ((np.arange(1 << m)[:, None] >> np.arange(m)[None, :]) & 1).astype(np.int8)
    pin = case.pin[lo:hi]
    P = P[np.all((pin < 0) | (P == pin), axis=1)]
    on = P == 1
    prev = np.concatenate((np.full((P.shape[0], 1), entry == 1), on[:, :-1]), axis=1)
    t = (on @ chain.client[lo:hi] + (~on) @ chain.server[lo:hi] + (prev & ~on) @ chain.up[lo:hi]
         + (~prev & on) @ chain.down[lo:hi])
    return np.stack((t, -(P @ reward[lo:hi]), P @ case.held[lo:hi]), axis=1), P


def front3(V):
    """Indices of the rows no other row is at most in every column (a staircase sweep)."""
    stair_r: list[float] = []
    stair_b: list[float] = []
    keep = []
    for i in np.lexsort((V[:, 2], V[:, 1], V[:, 0])).tolist():
        r, b = V[i, 1], V[i, 2]
        k = bisect.bisect_right(stair_r, r)
        if k > 0 and stair_b[k - 1] <= b:
            continue
        keep.append(i)
        j = k
        while j < len(stair_r) and stair_b[j] >= b:
            j += 1
        stair_r[k:j], stair_b[k:j] = [r], [b]
    return np.array(keep, dtype=np.intp)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sixteen", action="store_true", help="also the 16-block fronts (about 30 s)")
    ap.add_argument("--milp", action="store_true", help="also the item-count integer program by scipy's HiGHS "
                                                         "(test dependency; several seconds)")
    args = ap.parse_args()
    (chains, reward, c, lims), res = captured()
    chain = chains[0]
    case = [cc for case in _cases(c) for cc in _act_caps(case)][0]
    blocks = _blocks(chains, reward, case)
    s, p, cnt = blocks.start, blocks.period, blocks.count
    W, M, total = lims[-1], case.budget[0], float(reward.sum())
    best = total * (1 - res.server_share)
    print(f"# block items on {' '.join(ARGS[1:])}\n")
    print(f"{cnt} blocks of {p} layers from layer {s}; proven optimum: server share {100 * res.server_share:.2f} %\n")
    items, plain = {}, {}
    for e in (0, 1):
        V, P = segment(chain, reward, case, s, s + p, e)
        for x in (0, 1):
            sel = np.flatnonzero(P[:, -1] == x)
            keep = sel[front3(V[sel])]
            items[(e, x)] = V[keep]
            if e == x:
                plain[e] = V[sel[np.flatnonzero(np.all(P[sel] == e, axis=1))[0]]]
    name = {1: "client", 0: "server"}
    print("| blocks | " + " | ".join(f"{name[e]} -> {name[x]}" for e, x in items) + " | candidates | s |")
    print("|---:|" + "---:|" * (len(items) + 2))
    F = dict(items)
    print("| 1 | " + " | ".join(str(len(v)) for v in F.values()) + " | | |")
    k = 1
    while k < (16 if args.sixteen else 8):
        t0, cand, G = time.perf_counter(), 0, {}
        for e, x in F:
            parts = [(F[(e, mid)][:, None, :] + F[(mid, x)][None, :, :]).reshape(-1, 3) for mid in (0, 1)]
            S = np.concatenate(parts)
            S = S[(S[:, 0] <= W) & (S[:, 2] <= M)]
            cand += len(S)
            G[(e, x)] = S[front3(S)]
        F, k = G, 2 * k
        sizes = " | ".join(f"{len(v):,}" for v in F.values())
        print(f"| {k} | {sizes} | {cand:,} | {time.perf_counter() - t0:.1f} |")
    gaps(chain, reward, case, s, p, cnt, items, plain, W, M, total, best)
    if args.milp:
        milp_probe(chain, reward, case, s, p, cnt, items, W, M, total)
    return 0


def gaps(chain, reward, case, s, p, cnt, items, plain, W, M, total, best) -> None:
    """The Lagrangian bound's gap above the optimum with crossings, or whole client blocks, fixed."""
    n = len(reward)
    stop = s + p * cnt
    lams = np.concatenate(([0.0], 10 ** np.linspace(3, 9, 121)))
    mus = np.concatenate(([0.0], 10 ** np.linspace(0, 5, 101)))
    L, Mu = (a.ravel() for a in np.meshgrid(lams, mus, indexing="ij"))

    def priced(V):
        V = np.atleast_2d(V)
        return (-V[:, 1][:, None] - V[:, 0][:, None] * L - V[:, 2][:, None] * Mu).max(axis=0)

    start = 1 if chain.start_client else 0
    pre_v, pre_p = segment(chain, reward, case, 0, s, start)
    ends = {e: segment(chain, reward, case, stop, n, e) for e in (0, 1)}
    tails = {e: priced(np.stack((v[:, 0] + np.where(P[:, -1] == 1, chain.tail(1), chain.tail(0)), v[:, 1], v[:, 2]),
                                axis=1)) for e, (v, P) in ends.items()}
    specials = {k: priced(v) for k, v in items.items()}
    pc, ps = priced(plain[1]), priced(plain[0])
    bare = {e: items[(e, e)][np.any(items[(e, e)] != plain[e], axis=1)] for e in (0, 1)}   # loops, plain ones out
    bare_loops = np.maximum(priced(bare[1]), priced(bare[0]))
    by_cross: dict[int, float] = {}
    argmin: dict[int, int] = {}
    by_client: dict[int, float] = {}
    for s0 in (0, 1):
        pre = pre_v[pre_p[:, -1] == s0] if s else (pre_v if s0 == start else pre_v[:0])
        if not len(pre):
            continue
        for s1 in (0, 1):
            fixed = priced(pre) + tails[s1]
            for a in range(8):
                b = a - (s0 - s1)
                if b < 0 or a + b > cnt:
                    continue
                loops = np.maximum(specials[(1, 1)], specials[(0, 0)]) if a + b else specials[(s0, s0)]
                f = fixed + a * specials[(1, 0)] + b * specials[(0, 1)] + (cnt - a - b) * loops + L * W + Mu * M
                if float(f.min()) > by_cross.get(a, -math.inf):
                    by_cross[a], argmin[a] = float(f.min()), int(np.argmin(f))
                for n1 in range(cnt - a - b + 1):
                    if a + b == 0 and s0 == 0 and n1:
                        continue
                    rest = cnt - n1 - a - b
                    other = np.maximum(ps, bare_loops) if a + b else (ps if s0 == 0 else priced(bare[1]))
                    g = (fixed + n1 * pc + a * specials[(1, 0)] + b * specials[(0, 1)]
                         + (rest * other if rest else 0.0) + L * W + Mu * M)
                    by_client[n1] = max(by_client.get(n1, -math.inf), float(g.min()))
    print("\nLagrangian bound above the optimum, % of the chain's reward (negative: that count is ruled out):\n")
    print("| crossings out of the client | " + " | ".join(str(a) for a in sorted(by_cross)) + " |")
    print("|---|" + "---:|" * len(by_cross))
    print("| gap | " + " | ".join(f"{100 * (v - best) / total:.2f}" for _, v in sorted(by_cross.items())) + " |")
    near = [n1 for n1, v in sorted(by_client.items()) if v >= best]
    print(f"\nwith the whole client blocks fixed, the counts the bound leaves open: {near} "
          f"(gaps {', '.join(f'{100 * (by_client[n1] - best) / total:.2f} %' for n1 in near)})")
    top = max(by_cross, key=lambda a: by_cross[a])
    lam, mu, gap = L[argmin[top]], Mu[argmin[top]], by_cross[top] - best
    vals = [-V[:, 1] - lam * V[:, 0] - mu * V[:, 2] for V in items.values()]
    within = [int(np.count_nonzero(v >= v.max() - gap)) for v in vals]
    print(f"at the multipliers of the loosest open count ({top} crossings; latency {lam:.3g}, bytes {mu:.3g} "
          f"per unit): items within that gap of their pair's best, which its bound cannot rule out: "
          f"{', '.join(f'{w} of {len(V)}' for w, V in zip(within, items.values()))}")


def milp_probe(chain, reward, case, s, p, cnt, items, W, M, total) -> None:
    """The same case as an integer program over item counts (crossings balanced; connectivity not needed here:
    every open count crosses), solved by HiGHS with a zero gap, per start and end side of the block region."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    n = len(reward)
    stop = s + p * cnt
    X = np.concatenate(list(items.values()))
    kinds = np.concatenate([np.tile(k, (len(v), 1)) for k, v in items.items()])
    cs = ((kinds[:, 0] == 1) & (kinds[:, 1] == 0)).astype(float)
    sc = ((kinds[:, 0] == 0) & (kinds[:, 1] == 1)).astype(float)
    start = 1 if chain.start_client else 0
    pre_v, pre_p = segment(chain, reward, case, 0, s, start)
    print(f"\nscipy {__import__('scipy').__version__} HiGHS, {len(X)} item counts, 4 rows (count, crossings, latency, "
          "bytes), zero gap:\n")
    print("| start side | end side | best client reward, % of the chain's | ms | nodes |")
    print("|---|---|---:|---:|---:|")
    for s0 in (0, 1):
        pre = pre_v[pre_p[:, -1] == s0] if s else (pre_v if s0 == start else pre_v[:0])
        for s1 in (0, 1):
            v, P = segment(chain, reward, case, stop, n, s1)
            v = np.stack((v[:, 0] + np.where(P[:, -1] == 1, chain.tail(1), chain.tail(0)), v[:, 1], v[:, 2]), axis=1)
            for a in pre:
                for z in v:
                    fixed = a + z
                    rows = np.array([np.ones(len(X)), cs - sc, X[:, 0], X[:, 2]])
                    lo = [cnt, s0 - s1, -np.inf, -np.inf]
                    hi = [cnt, s0 - s1, W - fixed[0], M - fixed[2]]
                    t0 = time.perf_counter()
                    res = milp(X[:, 1], constraints=LinearConstraint(rows, lo, hi), integrality=np.ones(len(X)),
                               bounds=Bounds(0, cnt), options={"mip_rel_gap": 0})
                    ms = (time.perf_counter() - t0) * 1e3
                    got = "none" if res.status != 0 else f"{100 * -(res.fun + fixed[1]) / total:.3f}"
                    print(f"| {'client' if s0 else 'server'} | {'client' if s1 else 'server'} | {got} | {ms:,.0f} | "
                          f"{getattr(res, 'mip_node_count', '?')} |")


if __name__ == "__main__":
    raise SystemExit(main())

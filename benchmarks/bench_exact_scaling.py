"""How the exact solver scales (issue 32 item 3, issue 25 item 6): before vs after, in one run.

"before" is the exact solver as committed at git HEAD (its source read with `git show`, loaded as a module
beside the current one; read-only git); "after" the working tree's. Both answer every case, and the
benchmark checks that they agree on the optimum (the brute-force, MILP and oracle tests are the judges of
exactness; this is a cross-check at sizes they cannot reach). Tables:

1. random chains of 100 / 400 / 800 / 1,600 layers (client 1-20 ms, server 0.1-2 ms, transfers 0-30 ms,
   rewards 0-1 per layer, uniform; start and end on the client), deadlines 30 % and 70 % of the way from the
   least latency to all-client's, --seeds seeds each: median wall ms (and median CPU ms: on a shared machine
   the CPU column moves less). Targets (after): median ≤ 50 ms at 400 layers, ≤ 1 s at 1,600.
2. the shipped profiles and LLM configs (`--model`), prompt only and with 256 output tokens, deadlines 10-90 %
   of the way from the least latency to all-client's: nothing slower.
3. memory limits and pins (SPEC §10) on llama-3.1-8b, 256 output tokens (dp and exact, `splittui solve` path).

    .venv/bin/python benchmarks/bench_exact_scaling.py [--seeds 3] [--sizes 100 400 800 1600] [--skip-before-above 800]

Before-times above --skip-before-above layers are not measured (the old solver takes 5-15 s each there);
the table then shows the times issue 32 reports for them.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np

from splittui.costs import Costs, latency, min_latency
from splittui.generation import phase_costs
from splittui.solvers import solve
from splittui.solvers.exact import exact_policy

ROOT = Path(__file__).resolve().parent.parent


def head_source(rel: str) -> str:
    """A file's text as committed at HEAD (read-only git)."""
    return subprocess.run(["git", "show", f"HEAD:{rel}"], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def load_module(name: str, origin: str, src: str) -> ModuleType:
    """A module of the solvers package from source text, importable beside the current one."""
    spec = importlib.util.spec_from_loader(f"splittui.solvers.{name}", loader=None)
    assert spec is not None
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = "splittui.solvers"
    sys.modules[spec.name] = mod
    exec(compile(src, origin, "exec"), mod.__dict__)
    return mod


def baseline(rel: str, name: str) -> ModuleType:
    """A module of the solvers package as committed at HEAD, importable beside the current one."""
    return load_module(name, rel, head_source(rel))


def random_chain(n: int, seed: int, frac: float) -> Costs:
    rng = np.random.default_rng(seed)
    c = Costs(client_ms=rng.uniform(1, 20, n), server_ms=rng.uniform(0.1, 2, n), up_ms=rng.uniform(0, 30, n),
              down_ms=rng.uniform(0, 30, n), reward=rng.uniform(0, 1, n), up_out_ms=float(rng.uniform(0, 30)),
              down_out_ms=float(rng.uniform(0, 30)), start_client=True, end_client=True, deadline_ms=1.0)
    return at_fraction(c, frac)


def at_fraction(c: Costs, frac: float) -> Costs:
    lo, hi = min_latency(c), latency(c, np.ones(c.n, dtype=np.int8))
    return replace(c, deadline_ms=lo + frac * (max(hi, lo) - lo))


def timed(fn, *args, repeats: int = 1) -> tuple[float, float, object]:
    walls, cpus, out = [], [], None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn(*args)
        walls.append((time.perf_counter() - t0) * 1e3)
        cpus.append((time.process_time() - c0) * 1e3)
    return statistics.median(walls), statistics.median(cpus), out


def reward_of(c: Costs, x) -> float | None:
    return None if x is None else float(c.reward[np.asarray(x, dtype=bool)].sum())


def same(c: Costs, a, b) -> bool:
    ra, rb = reward_of(c, a), reward_of(c, b)
    if ra is None or rb is None:
        return ra is rb
    return abs(ra - rb) <= 1e-9 * max(1.0, abs(ra))


ISSUE_BEFORE = {100: "8-13", 400: "174-295", 800: "800-1,900", 1600: "5,700-14,500"}


def random_table(old: ModuleType, sizes: list[int], seeds: int, skip_above: int) -> bool:
    print("\n## Random chains (median of the seeds; ms)\n")
    print("| layers | deadline | before wall | after wall | before CPU | after CPU | speed-up (CPU) | target | ok |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|---|")
    all_ok = True
    for n in sizes:
        for frac in (0.3, 0.7):
            bw, bc, aw, ac = [], [], [], []
            for seed in range(1, seeds + 1):
                c = random_chain(n, seed, frac)
                w, cpu, x_new = timed(exact_policy, c)
                aw.append(w)
                ac.append(cpu)
                if n <= skip_above:
                    w, cpu, x_old = timed(old.exact_policy, c)
                    bw.append(w)
                    bc.append(cpu)
                    assert same(c, x_old, x_new), f"before and after disagree: {n} layers, seed {seed}, {frac}"
            target = 50.0 if n == 400 else 1000.0 if n == 1600 else None
            med_w, med_c = statistics.median(aw), statistics.median(ac)
            ok = target is None or med_w <= target
            all_ok &= ok
            before_w = f"{statistics.median(bw):,.1f}" if bw else f"({ISSUE_BEFORE.get(n, '—')}, issue 32)"
            before_c = f"{statistics.median(bc):,.1f}" if bc else "—"
            speed = f"{statistics.median(bc) / med_c:,.1f}x" if bc else "—"
            print(f"| {n:,} | {frac:.0%} | {before_w} | {med_w:,.1f} | {before_c} | {med_c:,.1f} | {speed} | "
                  f"{'≤ %g ms' % target if target else ''} | {'ok' if ok else 'MISSED'} |")
    return all_ok


PROFILES = ("gpt2-like", "bert-base", "transformer", "cmt-s", "llama-3.1-8b", "llama-3.1-70b")


def profile_costs(model: str, tokens: int) -> Costs | None:
    from splittui.cli import build_parser
    from splittui.commands.common import profile_from_args, scenario_from_args
    from splittui.errors import SplittuiError

    argv = ["solve", "--model", model] + (["--seq", "1024", "--gen-tokens", str(tokens)] if tokens else [])
    try:
        args = build_parser().parse_args(argv)
        prof = profile_from_args(args)
        return phase_costs(prof, scenario_from_args(args, prof)).composite()
    except SplittuiError:
        return None            # a profile without decode costs: no generation row


def profile_table(old: ModuleType, repeats: int) -> bool:
    print("\n## Shipped profiles and configs (exact, median of repeats; ms; deadlines 10/30/50/70/90 %)\n")
    print("| model | output tokens | stages | before wall | after wall | before CPU | after CPU | ratio (CPU) |")
    print("|---|---:|---:|---|---|---|---|---:|")
    worst = 0.0
    for model in PROFILES:
        for tokens in (0, 256):
            c0 = profile_costs(model, tokens)
            if c0 is None:
                continue
            rows = {"bw": [], "aw": [], "bc": [], "ac": []}
            for frac in (0.1, 0.3, 0.5, 0.7, 0.9):
                c = at_fraction(c0, frac)
                w, cpu, x_old = timed(old.exact_policy, c, repeats=repeats)
                rows["bw"].append(w)
                rows["bc"].append(cpu)
                w, cpu, x_new = timed(exact_policy, c, repeats=repeats)
                rows["aw"].append(w)
                rows["ac"].append(cpu)
                assert same(c, x_old, x_new), f"before and after disagree: {model}, {tokens} tokens, {frac}"
            ratio = sum(rows["ac"]) / max(sum(rows["bc"]), 1e-9)
            worst = max(worst, ratio)
            fmt = lambda v: " / ".join(f"{t:.1f}" for t in v)  # noqa: E731
            print(f"| {model} | {tokens} | {c0.n} | {fmt(rows['bw'])} | {fmt(rows['aw'])} | {fmt(rows['bc'])} | "
                  f"{fmt(rows['ac'])} | {ratio:.2f} |")
    print(f"\nworst after/before CPU ratio over a row: {worst:.2f} (1.00 = as fast)")
    return worst <= 1.25


MEM_CASES = (   # (label, client device, extra arguments); the server is an a100-80gb throughout
    ("pins only", "phone-soc", ["--pin-client", "embed,head"]),
    ("pins + client memory = device", "phone-soc", ["--pin-client", "embed,head", "--client-mem-gb", "device"]),
    ("pins + client memory 8 GB", "jetson-orin", ["--pin-client", "embed,head", "--client-mem-gb", "8"]),
)


def memory_table(old_constrained: ModuleType) -> None:
    from splittui.cli import build_parser
    from splittui.commands.common import profile_from_args, scenario_from_args
    from splittui.solvers import constrained as new_constrained

    print("\n## llama-3.1-8b, a100-80gb server, seq 1024, 256 output tokens, deadline 60 s (ms; server share %; "
          "'capped': stopped at the label cap, best found, not proven optimal)\n")
    print("| case | client | solver | before wall | before answer | after wall | after CPU | after answer | target |")
    print("|---|---|---|---:|---|---:|---:|---|---|")
    base = ("--model llama-3.1-8b --server-device a100-80gb --seq 1024 --gen-tokens 256 --deadline-ms 60000").split()
    for label, device, extra in MEM_CASES:
        args = build_parser().parse_args(["solve", *base, "--client-device", device, *extra])
        prof = profile_from_args(args)
        sc = scenario_from_args(args, prof)
        for solver in ("dp", "exact"):
            after = _attempt(lambda p=prof, s=sc, n=solver: solve(p, s, n))
            with _swapped(new_constrained, old_constrained):
                before = _attempt(lambda p=prof, s=sc, n=solver: solve(p, s, n))
            print(f"| {label} | {device} | {solver} | {before[0]} | {before[2]} | {after[0]} | {after[1]} | "
                  f"{after[2]} | ≤ 50 ms, proven |")


def _attempt(fn) -> tuple[str, str, str]:
    """Wall ms, CPU ms and the answer (server share, and whether the search stopped at its cap)."""
    from splittui.errors import SplittuiError

    t0, c0 = time.perf_counter(), time.process_time()
    try:
        res = fn()
    except SplittuiError as e:
        return f"error after {(time.perf_counter() - t0) * 1e3:,.0f} ({str(e)[:60]}…)", "—", "—"
    wall, cpu = (time.perf_counter() - t0) * 1e3, (time.process_time() - c0) * 1e3
    share = "none" if res.server_share is None else f"{100 * res.server_share:.2f} %"
    capped = any("not proven optimal" in n for n in res.notes)
    return f"{wall:,.1f}", f"{cpu:,.1f}", f"{share}{' capped' if capped else ' proven'}"


class _swapped:
    """Route `solvers` (package-level names) to the HEAD copy of constrained.py for a `with` block."""

    def __init__(self, new: ModuleType, old: ModuleType) -> None:
        import splittui.solvers as pkg
        import splittui.solvers.request as req

        self.targets = [(pkg, n) for n in ("constrained_dp", "constrained_exact")] + [(req, "constrained_exact")]
        self.old = old
        self.saved: list = []

    def __enter__(self) -> None:
        for mod, name in self.targets:
            self.saved.append(getattr(mod, name))
            setattr(mod, name, getattr(self.old, name))

    def __exit__(self, *exc) -> None:
        for (mod, name), v in zip(self.targets, self.saved, strict=True):
            setattr(mod, name, v)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 400, 800, 1600])
    ap.add_argument("--skip-before-above", type=int, default=800)
    ap.add_argument("--repeats", type=int, default=3, help="repeats per profile case (median)")
    ap.add_argument("--no-profiles", action="store_true")
    ap.add_argument("--no-memory", action="store_true")
    args = ap.parse_args(argv)
    old = baseline("splittui/solvers/exact.py", "_head_exact")
    print("# exact solver scaling: before = git HEAD, after = working tree")
    ok = random_table(old, args.sizes, args.seeds, args.skip_before_above)
    if not args.no_profiles:
        ok &= profile_table(old, args.repeats)
    if not args.no_memory:
        memory_table(baseline("splittui/solvers/constrained.py", "_head_constrained"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

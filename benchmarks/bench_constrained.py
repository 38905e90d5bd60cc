"""Memory limits and pins on llama-3.1-8b (issue 25 item 6): the constrained dp and exact, before vs after.

"before" is splittui/solvers/constrained.py as committed at git HEAD with its HEAD helper modules
(constrained_*.py, read with `git show` and loaded beside the current ones, each importing the HEAD copies of
the others; read-only git); "after" the working tree's. Every case is
`splittui solve`'s path (profile, scenario, costs, solver, evaluation): llama-3.1-8b, a100-80gb server,
seq 1024, 256 output tokens, deadline 60 s. Each cell is one solve (wall ms, median of --repeats); the
answer is the server share and whether it is proven optimal or the search stopped at its label cap (then the
best policy found). The target: ≤ 50 ms and proven, for dp and exact. The row "exact after dp" times exact
inside `solve_all(dp, exact)` (as `splittui solve` and the app run them): it starts from the DP's policy.

    .venv/bin/python benchmarks/bench_constrained.py [--repeats 1] [--no-before]
    .venv/bin/python benchmarks/bench_constrained.py --labels    # where exact's time goes, per label pass

--labels: one exact solve per case with the label passes counted (where the speed target is lost): per pass
(the beam pass that finds a floor, then each case's exact pass) its wall ms, the states it filled (a layer
and a side), the labels kept per state (mean, max) and in all; a pass that stops at the label cap says so.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_exact_scaling import ROOT, _swapped, head_source, load_module  # noqa: E402

from splittui.cli import build_parser  # noqa: E402
from splittui.commands.common import profile_from_args, scenario_from_args  # noqa: E402
from splittui.errors import SplittuiError  # noqa: E402
from splittui.solvers import solve, solve_all  # noqa: E402

BASE = "--model llama-3.1-8b --server-device a100-80gb --seq 1024 --gen-tokens 256 --deadline-ms 60000".split()
CASES = (   # (label, client device, extra arguments)
    ("pins only", "phone-soc", ["--pin-client", "embed,head"]),
    ("pins + client memory = device", "phone-soc", ["--pin-client", "embed,head", "--client-mem-gb", "device"]),
    ("pins + client memory 8 GB", "jetson-orin", ["--pin-client", "embed,head", "--client-mem-gb", "8"]),
    ("client memory 8 GB, no pins", "jetson-orin", ["--client-mem-gb", "8"]),
)
TARGET_MS = 50.0
AFTER_DP = "exact after dp"


def run(prof, sc, solver: str, repeats: int) -> tuple[float, str]:
    """Median wall ms and the answer: server share, proven or capped. "exact after dp": exact's own solve time
    inside `solve_all(dp, exact)`, where it starts from the DP's policy (as `splittui solve` and the app run it)."""
    walls, answer = [], ""
    for _ in range(repeats):
        t0 = time.perf_counter()
        try:
            res = (solve_all(prof, sc, ("dp", "exact"))["exact"] if solver == AFTER_DP else solve(prof, sc, solver))
        except SplittuiError as e:
            return (time.perf_counter() - t0) * 1e3, f"error: {str(e)[:50]}"
        walls.append(res.solve_ms if solver == AFTER_DP else (time.perf_counter() - t0) * 1e3)
        share = "none" if res.server_share is None else f"{100 * res.server_share:.2f} %"
        capped = any("not proven optimal" in n for n in res.notes)
        answer = f"{share} {'capped' if capped else 'proven'}"
    return statistics.median(walls), answer


class _old_capped:
    """`solve` reports a capped search by catching `SearchCapped`: point that name at the HEAD copy's class."""

    def __init__(self, old) -> None:
        import splittui.solvers as pkg

        self.pkg, self.old, self.saved = pkg, old, pkg.SearchCapped

    def __enter__(self) -> None:
        self.pkg.SearchCapped = self.old.SearchCapped

    def __exit__(self, *exc) -> None:
        self.pkg.SearchCapped = self.saved


def head_constrained():
    """constrained.py at HEAD, importing the HEAD copies of the constrained_*.py helpers (which may import each
    other: each is loaded once the HEAD copies it imports are)."""
    import subprocess

    listed = subprocess.run(["git", "ls-tree", "--name-only", "HEAD", "splittui/solvers/"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split()
    helpers = [Path(f).stem for f in listed if Path(f).name.startswith("constrained_")]

    def redirected(src: str) -> str:
        for stem in helpers:
            src = src.replace(f"from .{stem} import", f"from ._head_{stem} import")
        return src

    sources = {stem: redirected(head_source(f"splittui/solvers/{stem}.py")) for stem in helpers}
    while sources:
        ready = [s for s, src in sources.items() if not any(f"._head_{o} import" in src for o in sources if o != s)]
        if not ready:
            raise RuntimeError(f"HEAD's constrained helpers import each other in a cycle: {sorted(sources)}")
        for stem in ready:
            load_module(f"_head_{stem}", f"HEAD:splittui/solvers/{stem}.py", sources.pop(stem))
    return load_module("_head_constrained", "HEAD:splittui/solvers/constrained.py",
                       redirected(head_source("splittui/solvers/constrained.py")))


def label_table() -> int:
    """Per case, exact's label passes: wall ms, states, labels kept per state and in all."""
    from splittui.solvers import constrained as mod

    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"# exact's label passes on llama-3.1-8b, 256 output tokens ({now}; one run)\n")
    print("| case | client | pass | ms | states | labels/state mean | max | labels in all |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    front, run_pass = mod.front_by_level, mod._pass
    kept: list[int] = []

    def counted_front(*args):   # one call per state (a layer and a side)
        out = front(*args)
        kept.append(len(out))
        return out

    for label, device, extra in CASES:
        a = build_parser().parse_args(["solve", *BASE, "--client-device", device, *extra])
        prof = profile_from_args(a)
        sc = scenario_from_args(a, prof)
        rows: list[str] = []
        counted_pass = _counting_pass(mod, run_pass, kept, rows, f"| {label} | {device} |")
        mod.front_by_level, mod._pass = counted_front, counted_pass
        try:
            solve(prof, sc, "exact")
        except SplittuiError:
            pass
        finally:
            mod.front_by_level, mod._pass = front, run_pass
        none = f"| {label} | {device} | none: pins only, one plain pass on the barred chain | | | | | |"
        print("\n".join(rows) or none, flush=True)
    return 0


def _counting_pass(mod, run_pass, kept: list[int], rows: list[str], head: str):
    """`constrained._pass`, adding a row per call: its ms, states and labels kept (from `kept`)."""
    def counted_pass(*pa, **kw):
        kept.clear()
        t0 = time.perf_counter()
        capped = ""
        try:
            return run_pass(*pa, **kw)
        except mod._Capped:
            capped = " (stopped at the label cap)"
            raise
        finally:
            ms = (time.perf_counter() - t0) * 1e3
            name = ("beam" if kw.get("beam") else "exact") + capped
            mean = statistics.mean(kept) if kept else 0.0
            rows.append(f"{head} {name} | {ms:,.0f} | {len(kept)} | {mean:,.0f} | {max(kept, default=0):,} | "
                        f"{sum(kept):,} |")
    return counted_pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--no-before", action="store_true", help="skip the HEAD solver (it takes seconds per case)")
    ap.add_argument("--labels", action="store_true", help="count exact's labels per pass instead of timing")
    args = ap.parse_args(argv)
    if args.labels:
        return label_table()
    from splittui.solvers import constrained as new

    old = None if args.no_before else head_constrained()
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"# constrained dp / exact on llama-3.1-8b, 256 output tokens ({now}; one machine, one run)\n")
    print(f"common arguments: {' '.join(BASE)}\n")
    print("| case | client | solver | before ms | before answer | after ms | after answer | after/before | "
          f"≤ {TARGET_MS:g} ms and proven |")
    print("|---|---|---|---:|---|---:|---|---:|---|")
    ok = True
    for label, device, extra in CASES:
        a = build_parser().parse_args(["solve", *BASE, "--client-device", device, *extra])
        prof = profile_from_args(a)
        sc = scenario_from_args(a, prof)
        for solver in ("dp", "exact", AFTER_DP):
            after_ms, after = run(prof, sc, solver, args.repeats)
            before_ms, before = float("nan"), "—"
            if old is not None and solver != AFTER_DP:
                with _swapped(new, old), _old_capped(old):
                    before_ms, before = run(prof, sc, solver, args.repeats)
            met = after_ms <= TARGET_MS and after.endswith("proven")
            ok &= met
            ratio = f"{after_ms / before_ms:.2f}" if before_ms == before_ms else "—"
            print(f"| {label} | {device} | {solver} | {before_ms:,.1f} | {before} | {after_ms:,.1f} | {after} | "
                  f"{ratio} | {'met' if met else 'MISSED'} |", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

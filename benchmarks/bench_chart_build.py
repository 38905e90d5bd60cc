"""One chart build (issue 32: the `chart` column of bench_app_latency.py): plotext's canvas set up, the
series painted, the matrix read back as runs, for every chart kind at the plot sizes of an 80x24 and a
120x40 terminal, with plotext's own `set_matrices` and with splittui's row-at-a-time one
(`plotext_canvas._set_matrices`), interleaved in one run so that the machine's drift hits both alike.
Also checks that both builds give the same runs.

    .venv/bin/python benchmarks/bench_chart_build.py [repeats, default 30]
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import time

from plotext._matrix import matrix_class
from textual_plotext.plot import Plot

import splittui
from splittui.tui.state import compute_state
from splittui.tui.widgets import plotext_canvas
from splittui.tui.widgets.chart_kinds import View
from splittui.tui.widgets.charts import build_chart

SIZES = {"80x24": (78, 12), "120x40": (118, 26)}   # the full-size chart plots of those terminals
KINDS = ("frontier", "flops", "bandwidth", "timeline")


def main(argv: list[str]) -> int:
    repeats = int(argv[0]) if argv else 30
    profile = splittui.load_profile("gpt2-like")
    st = compute_state(profile, splittui.Scenario())
    plt = Plot()
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"# one chart build, gpt2-like default scenario, ms (median of {repeats}; {now}; one run, interleaved)\n")
    print("| chart | plot size | plotext set_matrices | splittui's | ratio |")
    print("|---|---|---:|---:|---:|")
    for kind in KINDS:
        for size, (w, h) in SIZES.items():
            view = View(width=w, height=h)
            times: dict[str, list[float]] = {"plotext": [], "ours": []}
            runs = {}
            for _ in range(repeats):
                for name, fn in (("plotext", plotext_canvas.PLOTEXT_SET_MATRICES),
                                 ("ours", plotext_canvas._set_matrices)):
                    matrix_class.set_matrices = fn
                    t0 = time.perf_counter()
                    runs[name] = build_chart(plt, kind, st, view)
                    times[name].append((time.perf_counter() - t0) * 1e3)
            matrix_class.set_matrices = plotext_canvas._set_matrices
            assert runs["plotext"] == runs["ours"], (kind, size)
            a, b = statistics.median(times["plotext"]), statistics.median(times["ours"])
            print(f"| {kind} | {w}x{h} | {a:.2f} | {b:.2f} | {b / a:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Key press -> the frame with every number, strip and chart updated, per tab and terminal size.

gpt2-like at the default scenario (T = 1 ms, deadline 1,500 ms), or with --model another model the
app opens (llama-3.1-8b: an analytic profile from its shipped HF config), headless (`App.run_test`).
Each press moves the deadline knob one step (alternately right and left); the time runs from posting
the key to the first frame drawn after the new state reached the app and every chart on the screen
showed it (the Placement tab at 120x40 also shows the mini frontier and timeline charts, unless a
long strip pushes them below the screen). A chart whose plot the new state leaves unchanged shows
it without a rebuild; when nothing on screen changes with the state, the time is when the state
arrived (also when the next frame is the worker's second answer, the hidden tabs' parts).

Prints medians (and p90) of wall time and of the process's CPU time up to that frame (the worker
thread included; on a loaded machine wall grows, CPU much less); the target is a median <= 50 ms.
Textual draws at TEXTUAL_FPS = 120 unless the environment says otherwise, as `splittui` runs the app.

Usage: python benchmarks/bench_app_latency.py [N presses per cell, default 15] [--model NAME]
       [--tabs placement,flops] [--sizes 80x24,120x40]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

os.environ.setdefault("TEXTUAL_FPS", "120")   # as the CLI runs the app; TEXTUAL_FPS=60 for Textual's default
from textual import events  # noqa: E402   (reads TEXTUAL_FPS)

from splittui.tui.app import TABS, make_app  # noqa: E402
from splittui.tui.widgets.charts import Chart, ChartPlot  # noqa: E402

SIZES = ((80, 24), (120, 40))
QUIET_S = 0.25   # no frame this long after the state arrived: nothing was left to draw


def stamp() -> tuple[float, float]:
    """(wall, process CPU) now, in seconds."""
    return time.perf_counter(), time.process_time()


def instrument(app) -> tuple[list, list]:
    """Record (stamp, generation, state id) per frame and per state the app takes."""
    frames: list = []
    states: list = []
    display = app._display

    def record_frame(screen, renderable):
        display(screen, renderable)
        st = app.state
        frames.append((stamp(), st.generation if st else -1, id(st)))

    app._display = record_frame
    app.watch(app, "state", lambda st: states.append((stamp(), st.generation if st else -1, id(st))), init=False)
    return frames, states


def patch_plots(renders: list) -> None:
    """Record (stamp, chart, generation) whenever a chart's plot shows a new state (rebuilt, or its
    plot unchanged by that state)."""
    drawn = Chart.drawn

    def record_drawn(self, generation):
        drawn(self, generation)
        renders.append((stamp(), id(self), generation))

    Chart.drawn = record_drawn


def updated_at(frames, states, renders, charts: set[int], gen: int, t0: float) -> tuple[float, float] | None:
    """The stamp of the first frame after the state `gen` arrived and every chart showed it. If the
    worker's second answer (the hidden tabs' parts) is drawn first, or no frame follows within QUIET_S,
    the first answer changed nothing on screen: then it is when it arrived and the charts took it."""
    first = next(((at, sid) for at, g, sid in states if at[0] > t0 and g >= gen), None)
    done: dict[int, tuple[float, float]] = {}
    for at, c, g in renders:   # the first time each chart showed it (the second answer shows it again)
        if g >= gen and c in charts:
            done.setdefault(c, at)
    if first is None or len(done) < len(charts):
        return None
    last = max([first[0], *done.values()])
    after = [(at, sid) for at, _g, sid in frames if at[0] >= last[0]]
    if after:
        return after[0][0] if after[0][1] == first[1] else last
    return last if time.perf_counter() - last[0] > QUIET_S else None


async def settle(pilot) -> None:
    app = pilot.app
    while True:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        if app.state is not None and app.state.generation == app._generation:
            await asyncio.sleep(0.2)
            return


def new_app(model: str | None):
    if model is None:
        return make_app(show_timings=False)
    from splittui.llm import load_any

    return make_app(load_any(model), show_timings=False)


async def measure(renders: list, size: tuple[int, int], tab: str, n: int, model: str | None
                  ) -> tuple[list[float], list[float]]:
    app = new_app(model)
    frames, states = instrument(app)
    wall, cpu = [], []
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        app.action_show_tab(tab)
        await settle(pilot)
        screen = app.screen.region   # charts on screen (llama's taller strip scrolls the mini charts out)
        charts = {id(c) for c in app.query(Chart) if c.query_one(ChartPlot).region.intersection(screen).area}
        for i in range(n):
            gen = app._generation + 1
            t0, c0 = stamp()
            app.post_message(events.Key("left" if i % 2 else "right", None))
            while (end := updated_at(frames, states, renders, charts, gen, t0)) is None:
                await asyncio.sleep(0.0005)
                if time.perf_counter() - t0 > 10:
                    raise RuntimeError(f"{tab} {size}: no updated frame after 10 s")
            wall.append((end[0] - t0) * 1e3)
            cpu.append((end[1] - c0) * 1e3)
            await settle(pilot)
    return wall, cpu


def stats(xs: list[float]) -> tuple[float, float]:
    xs = sorted(xs)
    return statistics.median(xs), xs[min(len(xs) - 1, int(0.9 * len(xs)))]


async def main(n: int, model: str | None, tabs: list[str], sizes: list[tuple[int, int]]) -> None:
    renders: list = []
    patch_plots(renders)
    print(f"key press -> frame with every number, strip and chart updated (ms); {model or 'gpt2-like'}, "
          f"T = 1 ms, n = {n}, TEXTUAL_FPS = {os.environ['TEXTUAL_FPS']}")
    print(f"{'tab':<10} {'size':>7} {'median':>8} {'p90':>8} {'cpu med':>8} {'cpu p90':>8}")
    for w, h in sizes:
        for tab in tabs:
            renders.clear()
            wall, cpu = await measure(renders, (w, h), tab, n, model)
            (med, p90), (cmed, cp90) = stats(wall), stats(cpu)
            print(f"{tab:<10} {f'{w}x{h}':>7} {med:8.1f} {p90:8.1f} {cmed:8.1f} {cp90:8.1f}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=15)
    parser.add_argument("--model", help="a model the app opens (default gpt2-like), e.g. llama-3.1-8b")
    parser.add_argument("--tabs", default=",".join(tab for tab, _ in TABS))
    parser.add_argument("--sizes", default=",".join(f"{w}x{h}" for w, h in SIZES))
    args = parser.parse_args()
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    asyncio.run(main(args.n, args.model, args.tabs.split(","), sizes))   # type: ignore[arg-type]

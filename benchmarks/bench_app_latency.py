"""Key press -> the frame with every number, strip and chart updated, per tab and terminal size.

gpt2-like at the default scenario (T = 1 ms, deadline 1,500 ms), headless (`App.run_test`). Each
press moves the deadline knob one step (alternately left and right); the time runs from posting
the key to the first frame drawn after the new state reached the numbers and every chart on the
tab (the Placement tab at 120x40 also shows the mini frontier and timeline charts). Prints a
table of medians (and p90); the target is a median <= 50 ms.

Usage: python benchmarks/bench_app_latency.py [N presses per cell, default 15]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

from textual import events

from splittui.tui.app import TABS, make_app
from splittui.tui.widgets.charts import Chart, ChartPlot

SIZES = ((80, 24), (120, 40))


def instrument(app) -> list:
    """Record (time, shown generation) per frame."""
    frames: list = []
    display = app._display

    def record_frame(screen, renderable):
        display(screen, renderable)
        frames.append((time.perf_counter(), app.state.generation if app.state else -1))

    app._display = record_frame
    return frames


def patch_plots(renders: list) -> None:
    """Record (time, chart, generation) per chart rebuild."""
    render = ChartPlot.render

    def record_render(self):
        dirty, st = self.chart.dirty, self.chart.state
        out = render(self)
        if dirty and st is not None:
            renders.append((time.perf_counter(), id(self.chart), st.generation))
        return out

    ChartPlot.render = record_render


def updated_at(frames, renders, charts: set[int], gen: int, t0: float) -> float | None:
    """The first frame after t0 that shows generation `gen` and follows every chart's rebuild for it."""
    shown = [t for t, g in frames if t > t0 and g >= gen]
    if not shown:
        return None
    done = {c: t for t, c, g in renders if g >= gen and c in charts}
    if len(done) < len(charts):
        return None
    last = max([min(shown), *done.values()])
    after = [t for t, _ in frames if t >= last]
    return after[0] if after else None


async def settle(pilot) -> None:
    app = pilot.app
    while True:
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        if app.state is not None and app.state.generation == app._generation:
            await asyncio.sleep(0.2)
            return


async def measure(renders: list, size: tuple[int, int], tab: str, n: int) -> list[float]:
    app = make_app(show_timings=False)
    frames = instrument(app)
    out = []
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        app.action_show_tab(tab)
        await settle(pilot)
        charts = {id(c) for c in app.query(Chart) if c.region.width and c.region.height}
        for i in range(n):
            gen = app._generation + 1
            t0 = time.perf_counter()
            app.post_message(events.Key("left" if i % 2 else "right", None))
            while (t1 := updated_at(frames, renders, charts, gen, t0)) is None:
                await asyncio.sleep(0.0005)
                if time.perf_counter() - t0 > 10:
                    raise RuntimeError(f"{tab} {size}: no updated frame after 10 s")
            out.append((t1 - t0) * 1e3)
            await settle(pilot)
    return out


async def main(n: int) -> None:
    renders: list = []
    patch_plots(renders)
    print(f"key press -> frame with every number, strip and chart updated (ms); gpt2-like, T = 1 ms, n = {n}")
    print(f"{'tab':<10} {'size':>7} {'median':>8} {'p90':>8} {'min':>8}")
    for w, h in SIZES:
        for tab, _title in TABS:
            renders.clear()
            lat = sorted(await measure(renders, (w, h), tab, n))
            p90 = lat[min(len(lat) - 1, int(0.9 * len(lat)))]
            print(f"{tab:<10} {f'{w}x{h}':>7} {statistics.median(lat):8.1f} {p90:8.1f} {lat[0]:8.1f}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 15))

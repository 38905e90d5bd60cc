"""Key press -> updated screen latency for gpt2-like at T = 1 ms (headless run_test).

Usage: SIZE=120x40 N=60 .venv/bin/python benchmarks/tui_latency.py
"""
import asyncio, time, statistics, sys, os
from textual import events
from splittui.tui.app import make_app

SIZE = tuple(int(v) for v in os.environ.get("SIZE", "120x40").split("x"))

async def main(n=int(os.environ.get("N", "60"))):
    app = make_app()
    shown = []
    orig = app._display
    def display(screen, renderable):
        orig(screen, renderable)
        shown.append((time.perf_counter(), app.state.generation if app.state else -1))
    app._display = display
    lat, done = [], []
    from splittui.tui.widgets.charts import ChartPlot
    rendered = []
    orig_render = ChartPlot.render
    def render(self):
        dirty = self.chart.dirty
        out = orig_render(self)
        if dirty:
            rendered.append(time.perf_counter())
        return out
    ChartPlot.render = render
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause(); await asyncio.sleep(0.3)
        for i in range(n):
            gen = app._generation
            t0 = time.perf_counter()
            app.post_message(events.Key("left" if i % 2 else "right", None))
            while not any(g > gen and t > t0 for t, g in shown):
                await asyncio.sleep(0.0005)
                if time.perf_counter() - t0 > 2:
                    print("miss", i, gen, app._generation, app.focused); break
            else:
                t1 = min(t for t, g in shown if g > gen and t > t0)
                lat.append((t1 - t0) * 1e3)
            await asyncio.sleep(0.1)
            charts = [t for t in rendered if t > t0]
            if charts:
                last = max(charts)
                done.append((min(t for t, g in shown if t >= last) - t0) * 1e3)
    lat.sort()
    print(f"{SIZE} key->screen ms: median {statistics.median(lat):.1f}  p90 {lat[int(0.9*len(lat))]:.1f}  min {lat[0]:.1f} max {lat[-1]:.1f}  (n={n}); frame with the redrawn charts: median {statistics.median(done) if done else float('nan'):.1f} ms")
asyncio.run(main())

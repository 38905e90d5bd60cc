"""CPU per focus-moving key (down/up on the knobs) and per tab switch in the app, with splittui's footer
(`SteadyFooter`, rebuilt only when its keys change) against Textual's own footer behaviour (rebuilt on every
bindings update), in one run. Process CPU per press, median, including the test harness's wait until the app
has caught up (so it is not the key -> frame latency of bench_app_latency.py).

Usage: python benchmarks/bench_focus_keys.py [--presses 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "tui"))

from textual.widgets import Footer  # noqa: E402
from tui_helpers import settle  # noqa: E402

import splittui  # noqa: E402
from splittui.tui.app import make_app  # noqa: E402
from splittui.tui.widgets.footer import SteadyFooter  # noqa: E402

STEADY = SteadyFooter.bindings_changed


async def _run(size: tuple[int, int], steady: bool, presses: int) -> dict[str, float]:
    SteadyFooter.bindings_changed = STEADY if steady else Footer.bindings_changed  # type: ignore[method-assign]
    app = make_app(splittui.load_profile("gpt2-like"), show_timings=False)
    out: dict[str, list[float]] = {"focus": [], "tab": []}
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        for k in range(presses):
            t = time.process_time()
            await pilot.press("down" if k % 2 == 0 else "up")
            await settle(pilot)
            out["focus"].append(time.process_time() - t)
        for _ in range(presses // 2):
            for key in "21":
                t = time.process_time()
                await pilot.press(key)
                await settle(pilot)
                out["tab"].append(time.process_time() - t)
    return {k: 1e3 * statistics.median(v) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presses", type=int, default=20)
    args = ap.parse_args()
    print(f"{'size':8} {'footer':9} {'focus move ms':>14} {'tab switch ms':>14}")
    for size in ((80, 24), (120, 40)):
        for steady in (False, True):
            r = asyncio.run(_run(size, steady, args.presses))
            print(f"{size[0]}x{size[1]:<5} {'steady' if steady else 'textual':9} {r['focus']:>14.1f} {r['tab']:>14.1f}")


if __name__ == "__main__":
    main()

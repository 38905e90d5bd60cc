"""Regenerate the README screenshots (SVG, and PNG when rsvg-convert is installed) from make_app().

    .venv/bin/python scripts/screenshots.py            # writes screenshots/*.svg and *.png

Scenes: the main view, the comparison view (two saved slots), and an infeasible scenario.
Solve times are hidden so that the pictures only change when the app does.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

from splittui.model import Scenario
from splittui.tui.app import make_app

OUT = Path(__file__).resolve().parent.parent / "screenshots"
SIZE = (120, 40)


async def main_view(pilot) -> None:
    pilot.app.query_one("#strip").focus()
    await pilot.press(*["shift+right"] * 20)   # cursor near DP's split


async def comparison(pilot) -> None:
    await pilot.press("s", "left", "left", "left", "left", "left")
    pilot.app.query_one("#up").focus()
    await pilot.press("shift+left")
    await pilot.press("s", "c")


async def infeasible(pilot) -> None:
    await pilot.press("left")                    # 50 ms: just under the least achievable latency


SCENES = {"main": (main_view, None), "compare": (comparison, None),
          "infeasible": (infeasible, Scenario(deadline_ms=55))}


async def shoot(name: str, steps, scenario: Scenario | None) -> Path:
    app = make_app(scenario=scenario, show_timings=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await steps(pilot)
        await app.workers.wait_for_complete()
        await pilot.pause()
        app.clear_notifications()
        await pilot.pause()
        path = OUT / f"{name}.svg"
        app.save_screenshot(filename=path.name, path=str(OUT))
    return path


def to_png(svg: Path) -> Path | None:
    if shutil.which("rsvg-convert") is None:
        return None
    png = svg.with_suffix(".png")
    subprocess.run(["rsvg-convert", "--zoom", "1", str(svg), "-o", str(png)], check=True)
    return png


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for name, (steps, scenario) in SCENES.items():
        svg = asyncio.run(shoot(name, steps, scenario))
        png = to_png(svg)
        print(f"wrote {svg.relative_to(OUT.parent)}" + (f" and {png.name}" if png else " (no rsvg-convert: no PNG)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

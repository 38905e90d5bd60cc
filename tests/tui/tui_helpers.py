"""What the app tests share: the text a widget draws, and waiting until the app has caught up with
its knobs (the app solves in a worker, so a key's effect lands a little later)."""

from __future__ import annotations

import asyncio
import io

from rich.console import Console
from textual.worker import WorkerCancelled

__all__ = ["settle", "workers_done", "shown", "open_policy_file", "load_policy_file", "press_busy"]


def shown(widget, width: int | None = None) -> str:
    """The plain text a widget draws (its render() through a rich console at its own width)."""
    console = Console(width=width or max(20, widget.size.width), file=io.StringIO(), record=True,
                      color_system=None)
    console.print(widget.render())
    return console.export_text()


async def workers_done(node, tries: int = 50) -> None:
    """Wait for `node`'s workers (an app or a screen); a solve cancelled by a newer one (the solve worker
    group is exclusive) is not a failure: wait for whatever replaced it."""
    for _ in range(tries):
        try:
            await node.workers.wait_for_complete()
            return
        except WorkerCancelled:
            await asyncio.sleep(0.01)
    raise AssertionError("workers kept being cancelled")


async def settle(pilot, timeout: float = 30.0) -> None:
    """Wait until the latest knob change has been solved and shown (worker or not); fail after `timeout`
    seconds (generous: a loaded 2-core machine, never a timing assertion)."""
    app = pilot.app
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        await pilot.pause()
        await workers_done(app)
        await pilot.pause()
        if app.state is not None and app.state.generation == app._generation:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the app never caught up with its knobs")


async def screen_drawn(pilot, timeout: float = 10.0) -> None:
    """Wait until the current screen has nothing left to lay out or paint. A screen lays itself out only
    while it is current: a dialog pushed while the last answer's layout is pending leaves the screen below
    it as it was (a snapshot then shows the table before the answer; seen on a loaded machine)."""
    screen = pilot.app.screen
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while screen._layout_required or screen._repaint_required or screen._dirty_widgets:
        if loop.time() > end:
            raise AssertionError("the screen never finished drawing")
        await asyncio.sleep(0.01)


async def open_policy_file(pilot, path) -> None:
    """`o`, the path, Enter: the file is read (a question about its scenario may follow)."""
    await pilot.press("o")
    await pilot.pause()
    pilot.app.screen.query_one("#path").value = str(path)
    await pilot.press("enter")
    await pilot.pause()


async def load_policy_file(pilot, path) -> None:
    """Load a policy file made under the current knobs (so no question is asked); wait until it is scored."""
    await settle(pilot)
    await open_policy_file(pilot, path)
    await settle(pilot)


async def press_busy(pilot, key: str, until, timeout: float = 30.0) -> None:
    """`key` sent through the app's driver as `pilot.press` sends it, then short pauses until `until()` holds
    (fail after `timeout` s), without `pilot.press`'s waits for the process to be idle: a key that starts CPU
    work at once (the experiments screen's sweep thread) keeps the process busy, and each of those waits then
    runs to its 1 s cap. For checking what such a key shows at once, not what its work finally shows."""
    from textual import events

    event = events.Key(key, key if len(key) == 1 else None)
    event.set_sender(pilot.app)
    pilot.app._driver.send_message(event)
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not until():
        if loop.time() > end:
            raise AssertionError(f"{key!r}: what it should show never came")
        await asyncio.sleep(0.005)
    await pilot.pause(0)

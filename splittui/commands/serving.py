"""The textual-serve server as splittui runs it: one line with the URL instead of a banner, quiet logs,
and a shutdown that stops every app process at once (the stock one waits up to a minute per open tab).

Imported only by `splittui serve`, and only when the ``serve`` extra is installed.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from aiohttp import web
from textual_serve.server import Server

__all__ = ["SplittuiServer"]

SHUTDOWN_TIMEOUT_S = 3.0   # the backstop for a tab whose app does not quit when asked


class SplittuiServer(Server):
    """textual-serve's Server that remembers its app processes so Ctrl-C can stop them."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._services: set = set()

    def initialize_logging(self) -> None:
        logging.basicConfig(level=logging.WARNING, format="splittui serve: %(message)s", stream=sys.stderr)

    async def on_startup(self, app: web.Application) -> None:
        """No banner: `serve` prints one line once the port is bound (see `announce`)."""

    def announce(self, *_args) -> None:
        print(f"splittui: serving {self.title} at {self.public_url}  (Ctrl-C stops it)", flush=True)

    async def on_shutdown(self, app: web.Application) -> None:
        await asyncio.gather(*(_stop_and_reap(service) for service in list(self._services)), return_exceptions=True)

    async def _process_messages(self, websocket, app_service) -> None:
        self._services.add(app_service)
        try:
            await super()._process_messages(websocket, app_service)
        finally:
            await _stop_and_reap(app_service)
            self._services.discard(app_service)

    def serve(self, debug: bool = False) -> None:
        """Server.serve with a short shutdown timeout; SIGINT and SIGTERM both stop it gracefully."""
        self.debug = debug
        self.initialize_logging()
        loop = asyncio.new_event_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_exit)
        web.run_app(self._make_app(), host=self.host, port=self.port, handle_signals=False, loop=loop,
                    shutdown_timeout=SHUTDOWN_TIMEOUT_S, print=self.announce)


async def _stop_and_reap(service) -> None:
    """Ask the tab's app to quit and wait for its process, so no child outlives the server (nor its
    transport the event loop: textual-serve itself never waits for the process)."""
    await service.stop()
    process = getattr(service, "_process", None)
    if process is not None and process.returncode is None:
        try:
            await asyncio.wait_for(process.wait(), SHUTDOWN_TIMEOUT_S)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()

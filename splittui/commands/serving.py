"""The textual-serve server as splittui runs it: one line with the URL instead of a banner, quiet logs,
a token on every request, a bounded number of app processes, idle apps ended, and a shutdown that stops
every app process at once (the stock one waits up to a minute per open tab).

The token: the startup URL carries it (``/?token=…``); a browser that opens it gets it back as an
HttpOnly cookie (named after the port, so two servers on one host do not clash) and is redirected to
the same page without it, so the token leaves the address bar. Every request (the page, its scripts, the websocket, the
downloads) needs the cookie or ``?token=``: none is 401, a wrong one 403, compared in constant time,
and no app process starts. A websocket from another site's page (its Origin is not this server) is
refused too. Without a token (``--no-token``, loopback only) the Host must name this machine, so a
web page cannot reach the server through a DNS name rebound to 127.0.0.1.

Imported only by `splittui serve`, and only when the ``serve`` extra is installed.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import os
import signal
import sys
from urllib.parse import urlencode, urlsplit

from aiohttp import WSMsgType, web
from textual_serve.server import Server

__all__ = ["SplittuiServer"]

SHUTDOWN_TIMEOUT_S = 3.0   # the backstop for a tab whose app does not quit when asked
_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>splittui: {title}</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 4em auto; line-height: 1.5">
<h1>{title}</h1><p>{text}</p></body></html>"""
_NO_TOKEN = ("This splittui server needs its token. Open the full address printed where the server was "
             "started (it ends in <code>/?token=…</code>), or ask the person who runs it.")
_BAD_TOKEN = "That token is not this server's. Open the full address printed where the server was started."
_FOREIGN = "Refused: this request did not come from the server's own page."


class SplittuiServer(Server):
    """textual-serve's Server with a token, at most `max_apps` app processes, idle apps ended after
    `idle_s` seconds, and every app process stopped on Ctrl-C or SIGTERM. `app_env` is added to the
    environment every app process starts with (the serve mode, its files folder)."""

    def __init__(self, *args, token: str | None, max_apps: int, idle_s: float | None = None,
                 app_env: dict[str, str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._services: set = set()
        self.token, self.max_apps, self.idle_s = token, max_apps, idle_s
        self.app_env = dict(app_env or {})
        self.open_apps = 0    # websockets being served: each holds (or is starting) one app process
        self.cookie = f"splittui-token-{self.port}"

    def initialize_logging(self) -> None:
        logging.basicConfig(level=logging.WARNING, format="splittui serve: %(message)s", stream=sys.stderr)

    async def on_startup(self, app: web.Application) -> None:
        """No banner: `serve` prints one line once the port is bound (see `announce`)."""

    def announce(self, *_args) -> None:
        """The one line that carries the token (nothing else ever logs it)."""
        url = self.public_url + ("/?" + urlencode({"token": self.token}) if self.token else "/")
        print(f"splittui: serving {self.title} at {url}  (Ctrl-C stops it)", flush=True)

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self._guard)
        return app

    # ----- who may come in -----

    @web.middleware
    async def _guard(self, request: web.Request, handler) -> web.StreamResponse:
        if not self._same_origin(request):
            return _page(403, "Forbidden", _FOREIGN)
        if self.token is None:
            return await handler(request) if self._local_host(request) else _page(403, "Forbidden", _FOREIGN)
        given = request.query.get("token")
        if given is not None:
            if not _same(given, self.token):
                return _page(403, "Wrong token", _BAD_TOKEN)
            if request.path == "/" and request.method == "GET":
                return self._enter(request)
            return await handler(request)
        cookie = request.cookies.get(self.cookie)
        if cookie is None:
            return _page(401, "Token needed", _NO_TOKEN)
        if not _same(cookie, self.token):
            return _page(403, "Wrong token", _BAD_TOKEN)
        return await handler(request)

    def _enter(self, request: web.Request) -> web.Response:
        """The token's URL: keep it as a cookie and go to the same page without it in the address."""
        rest = {k: v for k, v in request.query.items() if k != "token"}
        location = "./" + ("?" + urlencode(rest) if rest else "")   # relative: right behind a proxy's prefix too
        response = web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store",
                                                     "Referrer-Policy": "no-referrer"})
        response.set_cookie(self.cookie, self.token or "", httponly=True, samesite="Lax", path="/")
        return response

    def _same_origin(self, request: web.Request) -> bool:
        """A websocket's Origin (browsers always send it) is this server's; other requests pass."""
        origin = request.headers.get("Origin")
        if request.path != "/ws" or origin is None:
            return True
        return urlsplit(origin).netloc in (request.host, urlsplit(self.public_url).netloc)

    def _local_host(self, request: web.Request) -> bool:
        """Without a token, the Host must name this machine (or the public URL's host): DNS rebinding."""
        host = urlsplit(f"//{request.host}").hostname or ""
        if host in ("localhost", urlsplit(self.public_url).hostname):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    # ----- how many apps -----

    async def handle_index(self, request: web.Request):
        if self.open_apps >= self.max_apps:
            return _full_page(self.max_apps)
        return await super().handle_index(request)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """One app process per websocket, at most `max_apps` at once: one more gets a notice, no process."""
        if self.open_apps >= self.max_apps:
            return await _refuse_full(request, self.max_apps)
        self.open_apps += 1
        try:
            return await super().handle_websocket(request)
        finally:
            self.open_apps -= 1

    async def _process_messages(self, websocket, app_service) -> None:
        self._services.add(app_service)
        last = [asyncio.get_running_loop().time()]
        watch = asyncio.create_task(self._end_when_idle(websocket, last)) if self.idle_s else None
        try:
            await _relay(websocket, app_service, last)
        finally:
            if watch is not None:
                watch.cancel()
            await _stop_and_reap(app_service)
            self._services.discard(app_service)

    async def _end_when_idle(self, websocket, last: list[float]) -> None:
        """Close the tab (and so its app) once nothing came from its browser for `idle_s` seconds."""
        loop = asyncio.get_running_loop()
        assert self.idle_s is not None
        while (left := last[0] + self.idle_s - loop.time()) > 0:
            await asyncio.sleep(left)
        minutes = self.idle_s / 60
        try:
            await websocket.send_bytes(f"\r\n\x1b[0m splittui: this app ended after {minutes:g} idle minute"
                                       f"{'s' if minutes != 1 else ''}; reload the page for a new one.\r\n".encode())
        except (ConnectionError, RuntimeError):   # the tab went away meanwhile: closing is all that is left
            pass
        await websocket.close(code=1000, message=b"idle")

    async def on_shutdown(self, app: web.Application) -> None:
        await asyncio.gather(*(_stop_and_reap(service) for service in list(self._services)), return_exceptions=True)

    def serve(self, debug: bool = False) -> None:
        """Server.serve with a short shutdown timeout, no access log; SIGINT and SIGTERM both stop it."""
        self.debug = debug
        self.initialize_logging()
        os.environ.update(self.app_env)   # textual-serve starts each app with this process's environment
        loop = asyncio.new_event_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_exit)
        web.run_app(self._make_app(), host=self.host, port=self.port, handle_signals=False, loop=loop,
                    shutdown_timeout=SHUTDOWN_TIMEOUT_S, print=self.announce, access_log=None)


def _same(given: str, token: str) -> bool:
    """Constant-time, on bytes (compare_digest refuses non-ASCII str)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), token.encode("utf-8"))


def _page(status: int, title: str, text: str, **headers: str) -> web.Response:
    return web.Response(status=status, text=_PAGE.format(title=title, text=text), content_type="text/html",
                        headers={"Cache-Control": "no-store", **headers})


def _full_page(max_apps: int) -> web.Response:
    return _page(503, "This splittui server is full",
                 f"It already runs {max_apps} app{'s' if max_apps != 1 else ''}, its limit (<code>--max-apps"
                 "</code>). Close another splittui tab, or wait a little, then reload this page.",
                 **{"Retry-After": "30"})


async def _refuse_full(request: web.Request, max_apps: int) -> web.WebSocketResponse:
    """The page is already open: say so in its terminal, then close (no app process is started)."""
    websocket = web.WebSocketResponse()
    await websocket.prepare(request)
    await websocket.send_bytes(f"\r\n splittui: this server is full ({max_apps} apps open, its --max-apps). "
                               "Close another tab, then reload this page.\r\n".encode())
    await websocket.close(code=1013, message=b"server full")
    return websocket


async def _relay(websocket, app_service, last: list[float]) -> None:
    """textual-serve's message loop, noting when the browser last did something (pings do not count)
    and ignoring a malformed message instead of logging a traceback."""
    loop = asyncio.get_running_loop()
    async for message in websocket:
        if message.type != WSMsgType.TEXT:
            continue
        try:
            kind, data = json.loads(message.data)
        except (ValueError, TypeError):
            continue
        if kind != "ping":
            last[0] = loop.time()
        if kind == "stdin" and isinstance(data, str):
            await app_service.send_bytes(data.encode("utf-8"))
        elif kind == "resize" and isinstance(data, dict):
            await app_service.set_terminal_size(data.get("width", 80), data.get("height", 24))
        elif kind == "ping":
            await websocket.send_json(["pong", data])
        elif kind == "blur":
            await app_service.blur()
        elif kind == "focus":
            await app_service.focus()


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

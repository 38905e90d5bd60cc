"""Check `splittui serve` in a real browser: headless Chromium opens the served app at its tokenised URL,
a key is pressed, the page must change, and the result is saved as screenshots/browser.png (shown in the
README). Then `e` and Enter export the selected policy: the browser must download it, and when this
script started the server, the same bytes must be in the server's files folder (and nowhere else the
server runs). The URL without its token must be refused.

    apt-get install -y chromium                       # Debian's package; any Chromium/Chrome works
    .venv/bin/python scripts/browser_check.py          # starts `splittui serve --model gpt2-like` itself
    .venv/bin/python scripts/browser_check.py --url 'http://127.0.0.1:8000/?token=…'   # or a running server

Chromium is driven over the Chrome DevTools protocol with aiohttp (which textual-serve already brings),
so the check needs no browser-automation package. Everything stays on 127.0.0.1; the browser gets a
fresh profile and no background networking. Exit status 0 when the app drew and answered the key.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import itertools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
WAIT_S = 60.0
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-popup-blocking",   # a download opens in a new tab from the page's script
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0"]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help="a running `splittui serve`, with its token (default: start one on a free port)")
    p.add_argument("--model", default="gpt2-like", help="model for the server this script starts")
    p.add_argument("--key", default="2", help="key to press (default 2: the Frontier tab)")
    p.add_argument("--chromium", default=None, help="browser binary (default: chromium on PATH)")
    p.add_argument("--size", default="1400x900", help="window size in pixels (default %(default)s)")
    p.add_argument("--out", type=Path, default=ROOT / "screenshots" / "browser.png")
    p.add_argument("--downloads", type=Path, help="where the browser saves the export (default: a temporary folder)")
    return p.parse_args()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str) -> tuple[subprocess.Popen, str, Path]:
    """`splittui serve` on a free port: the process, its tokenised URL and its files folder."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "splittui", "serve", "--model", model, "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    files = proc.stderr.readline()   # printed first: "splittui: visitors' files: DIR"
    line = proc.stdout.readline()    # printed once the port is bound, with the token
    match = re.search(r"(http://\S+\?token=\S+)", line)
    if "visitors' files:" not in files or not match:
        proc.kill()
        sys.exit(f"browser_check: the server did not start: {(files + line).strip() or proc.wait()}")
    print(line.strip())
    return proc, match.group(1), Path(files.split("visitors' files:", 1)[1].strip())


def start_chromium(binary: str, size: str, profile_dir: str) -> tuple[subprocess.Popen, str]:
    """Start headless Chromium; returns the process and its DevTools HTTP endpoint."""
    width, height = size.split("x")
    proc = subprocess.Popen([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}",
                             f"--window-size={width},{height}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if match := re.search(r"DevTools listening on ws://([^/]+)/", line):
            return proc, f"http://{match.group(1)}"
        if not line and proc.poll() is not None:
            break
    proc.kill()
    sys.exit("browser_check: chromium did not open its DevTools endpoint")


class Page:
    """One browser tab over the DevTools protocol: send a command, await its answer."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws, self._ids = ws, itertools.count(1)

    async def call(self, method: str, **params) -> dict:
        call_id = next(self._ids)
        await self.ws.send_json({"id": call_id, "method": method, "params": params})
        while True:
            msg = await self.ws.receive_json(timeout=WAIT_S)
            if msg.get("id") == call_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    async def screenshot(self) -> bytes:
        return base64.b64decode((await self.call("Page.captureScreenshot", format="png"))["data"])

    async def settled_screenshot(self, *, differs_from: bytes | None = None) -> bytes:
        """Screenshots until two in a row match (the app stopped drawing), and differ from `differs_from`."""
        last, deadline = b"", time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            shot = await self.screenshot()
            if shot == last and shot != differs_from and await self.terminal_ready():
                return shot
            last = shot
        raise TimeoutError("the page never settled (or never changed after the key)")

    async def terminal_ready(self) -> bool:
        result = await self.call("Runtime.evaluate", returnByValue=True,
                                 expression="!!document.querySelector('.xterm-screen canvas, .xterm-rows')")
        return bool(result["result"].get("value"))

    async def press(self, key: str) -> None:
        await self.call("Runtime.evaluate", expression="document.querySelector('.xterm-helper-textarea')?.focus()")
        text = "\r" if key == "Enter" else key
        for kind in ("keyDown", "keyUp"):
            params = {"type": kind, "key": key}
            if kind == "keyDown":
                params["text"] = text
                if key == "Enter":
                    params.update(code="Enter", windowsVirtualKeyCode=13)
            await self.call("Input.dispatchKeyEvent", **params)


async def refused_without_token(url: str) -> int:
    """The status of the served page asked for without the token (401 expected)."""
    parts = urlsplit(url)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT_S)) as http:
        async with http.get(f"{parts.scheme}://{parts.netloc}/", allow_redirects=False) as resp:
            return resp.status


async def check(devtools: str, url: str, key: str, out: Path, downloads: Path) -> Path:
    """Open the page, press `key` (screenshot to `out`), then export with e, Enter; returns the download."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT_S)) as http:
        async with http.get(f"{devtools}/json/version") as resp:
            browser_ws = (await resp.json())["webSocketDebuggerUrl"]
        async with http.ws_connect(browser_ws, max_msg_size=0) as ws:   # downloads land in `downloads`
            await Page(ws).call("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(downloads))
            async with http.get(f"{devtools}/json/list") as resp:
                target = next(t for t in await resp.json() if t["type"] == "page")
            async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as page_ws:
                page = Page(page_ws)
                await page.call("Page.enable")
                await page.call("Page.navigate", url=url)
                before = await page.settled_screenshot()
                print(f"first frame drawn ({len(before):,} bytes of PNG)")
                await page.press(key)
                after = await page.settled_screenshot(differs_from=before)
                print(f"the app answered key {key!r}: the page changed")
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(after)
                print(f"wrote {out} (sha256 {hashlib.sha256(after).hexdigest()[:12]})")
                await page.press("e")
                await page.settled_screenshot(differs_from=after)   # the export dialog
                await page.press("Enter")
                return await downloaded(downloads)


async def downloaded(folder: Path) -> Path:
    """The one file the browser finished downloading into `folder` (bounded wait)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        done = [p for p in folder.iterdir() if not p.name.endswith(".crdownload")]
        if done:
            return done[0]
        await asyncio.sleep(0.5)
    raise TimeoutError("the browser downloaded nothing after the export")


def check_export(download: Path, files: Path | None) -> None:
    """The download is a policy document; with the server's files folder known, the same bytes are there."""
    body = download.read_bytes()
    if not body.lstrip().startswith(b"{") or b'"splittui.policy/' not in body:
        sys.exit(f"browser_check: the download {download.name} is not a policy document")
    print(f"the browser downloaded {download.name} ({len(body):,} bytes)")
    if files is not None:
        kept = files / download.name
        if not kept.is_file() or kept.read_bytes() != body:
            sys.exit(f"browser_check: {download.name} is not in the server's files folder {files}")
        print(f"the same file is in the server's files folder: {kept}")


def main() -> int:
    args = parse_args()
    binary = args.chromium or shutil.which("chromium") or shutil.which("chromium-browser")
    if not binary:
        sys.exit("browser_check: no chromium on PATH (Debian: apt-get install -y chromium), or pass --chromium")
    server, url, files = (None, args.url, None) if args.url else start_server(args.model)
    with tempfile.TemporaryDirectory(prefix="splittui-chromium-") as profile_dir:
        browser, devtools = start_chromium(binary, args.size, profile_dir)
        downloads = args.downloads or Path(profile_dir) / "downloads"
        downloads.mkdir(parents=True, exist_ok=True)
        try:
            if "token=" in url:   # a --no-token server (loopback only) has nothing to refuse
                status = asyncio.run(refused_without_token(url))
                if status not in (401, 403):
                    sys.exit(f"browser_check: the page without its token answered {status}, not 401")
                print(f"without the token the page is refused ({status})")
            check_export(asyncio.run(check(devtools, url, args.key, args.out, downloads)), files)
        finally:
            browser.terminate()
            browser.wait(10)
            if server is not None:
                server.send_signal(signal.SIGINT)   # Ctrl-C: the server stops its app processes too
                server.wait(WAIT_S)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What the serve tests share: a free port, the processes a server started, a browser-like client, and
bounded waits on a served app's websocket (textual-serve pings every 15 s, so every wait has its own
deadline). The `serve` and `server` fixtures live in conftest.py."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 60.0          # generous bound for a loaded 2-core machine; never a timing assertion
_ANSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][A-Z0-9]|\x1b[=>]")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def screen_text(raw: bytes) -> str:
    return _ANSI.sub(b"", raw).decode("utf-8", "replace")


def children(pid: int) -> set[int]:
    """Every live descendant of `pid`, read from /proc (no psutil needed)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_for_url_line(proc: subprocess.Popen) -> str:
    line = proc.stdout.readline()   # the server prints its URL once it listens
    assert "serving" in line, (line, proc.poll())
    return line


def client() -> aiohttp.ClientSession:
    """A browser-like client: keeps the token's cookie (aiohttp refuses cookies of an IP host unless told)."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT_S), cookie_jar=aiohttp.CookieJar(unsafe=True))


async def receive(ws, seconds: float):
    """The next message within `seconds`. Not ws.receive(timeout=): aiohttp restarts that timeout at
    every ping it answers, and textual-serve pings every 15 s, so a longer wait would never end."""
    try:
        return await asyncio.wait_for(ws.receive(), max(seconds, 0.0))
    except asyncio.TimeoutError:
        return None


async def until(ws, predicate, what: str):
    """Read websocket messages until predicate(msg) is truthy; fail (not hang) after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while (msg := await receive(ws, deadline - time.monotonic())) is not None:
        assert msg.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT), (what, msg)
        if result := predicate(msg):
            return result
    raise AssertionError(f"timed out after {WAIT_S:g} s waiting for {what}")


def shows(screen: bytearray, *texts: str):
    """A predicate for until: every text is on the screen drawn so far (frames are added to `screen`)."""
    def check(msg):
        if msg.type == aiohttp.WSMsgType.BINARY:
            screen.extend(msg.data)
        drawn = screen_text(bytes(screen))
        return all(text in drawn for text in texts)
    return check



"""Attacks on a running `splittui serve` (issue 33): requests without the token or with a wrong one are
refused over HTTP and the websocket and start no app process; another site's page cannot open the
websocket; a path typed in the browser cannot leave the files folder; one tab more than --max-apps gets
the "server full" notice and no process; an idle app ends; bad flags are one line and exit 2.

Everything binds 127.0.0.1, every wait is bounded (WAIT_S), and each server is stopped with Ctrl-C.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time

import aiohttp
import pytest
from serve_helpers import WAIT_S, alive, children, client, free_port, receive, screen_text, shows, until

from splittui.cli import main

PATHS = ("/", "/static/js/textual.js", "/download/0123456789abcdef", "/ws?width=80&height=24")


BODIES: list[str] = []   # every answer's text, searched for the token afterwards


async def _status(url: str, **kwargs) -> int:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT_S)) as http:
        async with http.get(url, allow_redirects=False, **kwargs) as response:
            BODIES.append(await response.text())
            return response.status


async def _ws_status(url: str, **kwargs) -> int:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT_S)) as http:
        try:
            async with http.ws_connect(url, **kwargs):
                return 101
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status


def test_no_token_or_a_wrong_one_is_refused_and_starts_no_app(serve):
    srv = serve("--model", "gpt2-like")
    assert srv.token and len(srv.token) >= 22                 # >= 128 bits of url-safe base64
    wrong = srv.token[:-1] + ("A" if srv.token[-1] != "A" else "B")
    cookie = f"splittui-token-{srv.port}"

    async def attack() -> dict:
        seen = {}
        for path in PATHS:
            sep = "&" if "?" in path else "?"
            seen[path, "none"] = await _status(srv.url + path)
            seen[path, "wrong"] = await _status(f"{srv.url}{path}{sep}token={wrong}")
            seen[path, "prefix"] = await _status(f"{srv.url}{path}{sep}token={srv.token[:8]}")
            seen[path, "non-ascii"] = await _status(f"{srv.url}{path}{sep}token=%C3%A9{srv.token[2:]}")
            seen[path, "empty"] = await _status(f"{srv.url}{path}{sep}token=")
            seen[path, "wrong cookie"] = await _status(srv.url + path, headers={"Cookie": f"{cookie}={wrong}"})
            seen[path, "other port's cookie"] = await _status(
                srv.url + path, headers={"Cookie": f"splittui-token-{srv.port + 1}={srv.token}"})
        ws = srv.url.replace("http:", "ws:") + "/ws?width=80&height=24"
        seen["ws", "none"] = await _ws_status(ws)
        seen["ws", "wrong"] = await _ws_status(f"{ws}&token={wrong}")
        seen["ws", "wrong cookie"] = await _ws_status(ws, headers={"Cookie": f"{cookie}={wrong}"})
        # cross-site websocket hijacking: the right cookie, sent by another site's page
        seen["ws", "foreign origin"] = await _ws_status(ws, headers={"Cookie": f"{cookie}={srv.token}",
                                                                      "Origin": "http://evil.example"})
        return seen

    seen = asyncio.run(attack())
    for (path, how), status in seen.items():
        assert status == (401 if how in ("none", "other port's cookie") else 403), (path, how, status)
    assert not any(srv.token in body for body in BODIES), "a refusal showed the token"
    time.sleep(0.5)
    assert children(srv.proc.pid) == set(), "a refused request started an app process"


def test_the_printed_url_lets_a_browser_in_and_the_token_leaves_the_address(serve):
    srv = serve("--model", "gpt2-like", "--token", "team-planner-2026-abcdef")
    assert srv.token == "team-planner-2026-abcdef"

    async def visit() -> tuple[int, str, str, int]:
        async with client() as http:
            async with http.get(f"{srv.url}/?{srv.query}") as page:
                text, address = await page.text(), str(page.url)
                status = page.status
            async with http.get(srv.url + "/static/js/textual.js") as script:   # the cookie does the rest
                return status, text, address, script.status

    status, text, address, script = asyncio.run(visit())
    assert (status, script) == (200, 200)
    assert "token" not in address and srv.token not in text


def test_no_token_on_loopback_refuses_another_host_name(serve):
    """--no-token: this machine only, and a page whose DNS name was rebound to 127.0.0.1 is refused."""
    srv = serve("--model", "gpt2-like", "--no-token")
    assert srv.token is None and "token" not in srv.line

    async def visit():
        return (await _status(srv.url + "/"), await _status(srv.url + "/", headers={"Host": "evil.example"}),
                await _status(f"http://localhost:{srv.port}/"))

    assert asyncio.run(visit()) == (200, 403, 200)


def test_one_tab_more_than_max_apps_gets_the_full_page_and_no_process(serve):
    srv = serve("--model", "gpt2-like", "--max-apps", "1")

    async def two_tabs():
        async with client() as http:
            async with http.get(f"{srv.url}/?{srv.query}") as page:
                assert page.status == 200
            async with http.ws_connect(srv.url + "/ws?width=100&height=30") as first:
                await until(first, shows(bytearray(), "gpt2-like"), "the first tab's app")
                apps = children(srv.proc.pid)
                async with http.get(srv.url + "/") as full:
                    full_page = (full.status, await full.text())
                async with http.ws_connect(srv.url + "/ws?width=100&height=30") as second:
                    notice = bytearray()
                    while (msg := await receive(second, WAIT_S)) is not None and msg.type == aiohttp.WSMsgType.BINARY:
                        notice.extend(msg.data)
                await asyncio.sleep(0.5)
                return apps, full_page, screen_text(bytes(notice)), children(srv.proc.pid)

    apps, (status, page), notice, after = asyncio.run(two_tabs())
    assert len(apps) == 1, apps
    assert status == 503 and "full" in page and "--max-apps" in page
    assert "server is full" in notice
    assert after == apps, "the tab beyond --max-apps started a process"


IDLE_MINUTES = 0.04   # 2.4 s without input from the browser


def test_an_idle_app_ends(serve):
    """The tab sends input (a focus event, as a browser does) until the app's first frame is up, however
    long that takes on a busy machine; the app ends IDLE_MINUTES after the last input, not sooner."""
    srv = serve("--model", "gpt2-like", "--idle-minutes", str(IDLE_MINUTES))

    async def idle_tab():
        async with client() as http:
            async with http.ws_connect(f"{srv.url}/ws?width=100&height=30&{srv.query}") as ws:
                last_input = [time.monotonic()]

                async def busy() -> None:
                    while True:
                        await ws.send_json(["focus", None])
                        last_input[0] = time.monotonic()
                        await asyncio.sleep(0.3)

                typing = asyncio.create_task(busy())
                screen = bytearray()
                try:
                    await until(ws, shows(screen, "gpt2-like"), "the app's first frame")
                finally:
                    typing.cancel()
                apps = children(srv.proc.pid)
                deadline = time.monotonic() + WAIT_S
                while (msg := await receive(ws, deadline - time.monotonic())) is not None:
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        screen.extend(msg.data)
                    elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                        break
                assert msg is not None, "the idle app was never ended"
                return apps, screen_text(bytes(screen)), time.monotonic() - last_input[0]

    apps, text, quiet_s = asyncio.run(idle_tab())
    assert apps and "idle" in text
    assert quiet_s >= IDLE_MINUTES * 60 - 0.05, f"ended {quiet_s:.2f} s after the last input"
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in apps) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in apps), "the idle app's process is still running"


def test_sigterm_stops_the_server_and_every_app(serve):
    srv = serve("--model", "gpt2-like")

    async def open_tab():
        async with client() as http:
            async with http.ws_connect(f"{srv.url}/ws?width=100&height=30&{srv.query}") as ws:
                await until(ws, shows(bytearray(), "gpt2-like"), "the app's first frame")
                apps = children(srv.proc.pid)
                srv.proc.send_signal(signal.SIGTERM)
                deadline = time.monotonic() + WAIT_S
                while not ws.closed and (msg := await receive(ws, deadline - time.monotonic())) is not None:
                    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                        break
                return apps

    apps = asyncio.run(open_tab())
    assert apps and srv.proc.wait(WAIT_S) == 0
    assert not any(alive(pid) for pid in apps), "an app process outlived SIGTERM"


def test_a_path_typed_in_the_browser_stays_in_the_files_folder(serve):
    """The issue's "done when": `../../x.json` is refused in the export dialog, `x.json` lands in the files
    folder and downloads; an absolute path, `~` and `..` are refused too (test_confine.py has each
    dialog's every refusal on screen)."""
    srv = serve("--model", "gpt2-like")

    async def export_attempts():
        async with client() as http:
            async with http.get(f"{srv.url}/?{srv.query}") as page:   # as a browser: the cookie from here on
                assert page.status == 200
            async with http.ws_connect(f"{srv.url}/ws?width=140&height=40") as ws:
                await until(ws, shows(bytearray(), "gpt2-like"), "the app's first frame")
                await ws.send_json(["stdin", "e"])
                await until(ws, shows(bytearray(), "Export a policy"), "the export dialog")
                await _type(ws, "../../x.json")
                refusal = await until(ws, shows(bytearray(), "outside"), "the refusal of ../../x.json")
                for attack in (str(srv.folder / "x.json"), "~/x.json", "../x.json"):
                    await _type(ws, attack)   # refused too: no download offer, the dialog stays (see below)
                    quiet = time.monotonic() + 0.8   # the cursor blinks: read for a while, not until silence
                    while (msg := await receive(ws, quiet - time.monotonic())) is not None:
                        assert _delivery_key(msg) is None, f"{attack} was written"
                await _type(ws, "x.json")     # the same dialog still takes a name: it was never closed
                key = await until(ws, _delivery_key, "the download offer")
                async with http.get(f"{srv.url}/download/{key}") as download:
                    return refusal, download.status, await download.read()

    refusal, status, body = asyncio.run(export_attempts())
    assert refusal
    assert status == 200 and json.loads(body)["schema"].startswith("splittui.policy/")
    assert (srv.files / "x.json").read_bytes() == body
    assert sorted(srv.folder.rglob("x.json")) == [srv.files / "x.json"]   # nowhere else (the data dir is in tmp)


async def _type(ws, text: str) -> None:
    """Clear the field (ctrl+u), type, Enter: three sends, as keys come from a browser (one chunk of text
    and Enter together reads as a paste)."""
    for chunk in ("\x15", text, "\r"):
        await ws.send_json(["stdin", chunk])
        await asyncio.sleep(0.2)


def _delivery_key(msg):
    if msg.type == aiohttp.WSMsgType.TEXT and (data := json.loads(msg.data))[0] == "deliver_file_start":
        return data[1]
    return None


# ----- bad flags: one line, exit 2, nothing started -----

def _run(argv, capsys):
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:
        rc = exc.code
    return rc, capsys.readouterr().err


@pytest.mark.parametrize("flags, needle", [
    (["--no-token", "--host", "0.0.0.0"], "--no-token"),
    (["--token", "short"], "--token"),
    (["--token", "a b c d e f g h i j k l"], "--token"),
    (["--token", "abcdefghijklmnopq", "--no-token"], "--no-token"),
    (["--files", "{tmp}/missing"], "--files"),
    (["--files", "{tmp}"], "--files"),           # holds the data folder (conftest puts it in tmp)
    (["--max-apps", "0"], "--max-apps"),
    (["--idle-minutes", "0"], "--idle-minutes"),
    (["--idle-minutes", "soon"], "--idle-minutes"),
])
def test_bad_guard_flags_are_one_line(flags, needle, tmp_path, capsys):
    rc, err = _run(["serve", "--model", "gpt2-like", "--port", free_port(), *(f.format(tmp=tmp_path) for f in flags)],
                   capsys)
    assert rc == 2, (rc, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert needle in err, err
    made = tmp_path / "splittui-data" / "serve"
    assert not made.exists() or not any(made.iterdir()), "a refused start left a server folder behind"

"""`splittui serve` (issue 14): the served app answers over HTTP and its websocket, exports reach the
browser as downloads, Ctrl-C stops the server and every app process, and bad input is one line, exit 2.

No browser here: aiohttp's client speaks the same websocket protocol textual-serve's page does
(scripts/browser_check.py drives a real headless Chromium). Everything binds 127.0.0.1 only, and every
wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest

from splittui.cli import build_parser, main
from splittui.commands.serve import app_command
from splittui.tui.delivery import offer_download

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 60.0          # generous bound for a loaded 2-core machine; never a timing assertion
TINY_LLAMA = {"model_type": "llama", "hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 8,
              "num_key_value_heads": 2, "intermediate_size": 512, "vocab_size": 1000,
              "max_position_embeddings": 2048}
_ANSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][A-Z0-9]|\x1b[=>]")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _screen_text(raw: bytes) -> str:
    return _ANSI.sub(b"", raw).decode("utf-8", "replace")


def _children(pid: int) -> set[int]:
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


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def serve(tmp_path):
    """Starts `splittui serve ARGS` on a free 127.0.0.1 port, run in tmp_path (where exports land); the
    apps it starts import this checkout too (PYTHONPATH is inherited). Stopped with Ctrl-C at the end,
    so a failed test leaves no app process behind either."""
    started: list[subprocess.Popen] = []

    def start(*args) -> SimpleNamespace:
        port = _free_port()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        proc = subprocess.Popen([sys.executable, "-m", "splittui", "serve", *map(str, args), "--port", str(port)],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        started.append(proc)
        return SimpleNamespace(proc=proc, port=port, url=f"http://127.0.0.1:{port}", folder=tmp_path)

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(WAIT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@pytest.fixture
def server(serve):
    """`splittui serve --model gpt2-like`."""
    return serve("--model", "gpt2-like")


def _wait_for_url_line(proc: subprocess.Popen) -> str:
    line = proc.stdout.readline()   # the server prints its URL once it listens
    assert "serving" in line, (line, proc.poll())
    return line


async def _receive(ws, seconds: float):
    """The next message within `seconds`. Not ws.receive(timeout=): aiohttp restarts that timeout at
    every ping it answers, and textual-serve pings every 15 s, so a longer wait would never end."""
    try:
        return await asyncio.wait_for(ws.receive(), max(seconds, 0.0))
    except asyncio.TimeoutError:
        return None


async def _until(ws, predicate, what: str):
    """Read websocket messages until predicate(msg) is truthy; fail (not hang) after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while (msg := await _receive(ws, deadline - time.monotonic())) is not None:
        assert msg.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT), (what, msg)
        if result := predicate(msg):
            return result
    raise AssertionError(f"timed out after {WAIT_S:g} s waiting for {what}")


def _shows(screen: bytearray, *texts: str):
    """A predicate for _until: every text is on the screen drawn so far (frames are added to `screen`)."""
    def check(msg):
        if msg.type == aiohttp.WSMsgType.BINARY:
            screen.extend(msg.data)
        drawn = _screen_text(bytes(screen))
        return all(text in drawn for text in texts)
    return check


async def _session(server) -> tuple[str, bytes, set[int]]:
    screen = bytearray()

    def shows(text):
        return _shows(screen, text)

    def delivery_key(msg):
        if msg.type == aiohttp.WSMsgType.TEXT and (data := json.loads(msg.data))[0] == "deliver_file_start":
            return data[1]
        return None

    timeout = aiohttp.ClientTimeout(total=WAIT_S)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        async with http.get(server.url + "/") as page:
            assert page.status == 200
            assert f"ws://127.0.0.1:{server.port}/ws" in await page.text()
        async with http.ws_connect(server.url + "/ws?width=120&height=40") as ws:
            await _until(ws, shows("gpt2-like"), "the app's first frame")
            apps = _children(server.proc.pid)
            screen.clear()
            await ws.send_json(["stdin", "s"])   # a slot, kept in the data dir (conftest: a temporary one)
            await ws.send_json(["stdin", "e"])   # at once: the first solve may not have landed yet (it waits)
            # the dialog's title, not "Export" (the footer's "e Export" comes back with any full repaint,
            # and an Enter sent then opens the deadline knob's typed-value dialog instead)
            await _until(ws, shows("Export a policy"), "the export dialog")
            await ws.send_json(["stdin", "\r"])
            key = await _until(ws, delivery_key, "the download offer")
            async with http.get(f"{server.url}/download/{key}") as download:
                assert download.status == 200
                body = await download.read()
            return download.headers["Content-Disposition"], body, apps


def test_served_app_first_frame_export_download_and_ctrl_c(server):
    _wait_for_url_line(server.proc)
    disposition, body, apps = asyncio.run(_session(server))

    written = list(server.folder.glob("policy-*.json"))
    assert len(written) == 1, written                      # the export is written where the server runs ...
    assert body == written[0].read_bytes()                 # ... and the browser gets the same bytes
    assert json.loads(body)["schema"] == "splittui.policy/1"
    assert written[0].name in disposition and "attachment" in disposition
    assert apps, "the tab's app process was not found"
    saved = json.loads((server.folder / "splittui-data" / "slots.json").read_text())   # never the real home
    assert [s["name"] for s in saved["slots"]] == ["slot 1"]

    server.proc.send_signal(signal.SIGINT)                 # Ctrl-C, to the server only
    assert server.proc.wait(WAIT_S) == 0, server.proc.stderr.read()
    assert "Traceback" not in server.proc.stderr.read()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in apps) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in apps), "an app process outlived the server"


def test_served_app_opens_the_forwarded_config(serve, tmp_path):
    """--hf-config, the devices and the dtype reach every tab's app (issue 11 in the browser)."""
    folder = tmp_path / "my-llama"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(TINY_LLAMA))
    srv = serve("--hf-config", folder, "--client-device", "jetson-orin", "--dtype", "int4")
    _wait_for_url_line(srv.proc)

    async def first_frame():
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT_S)) as http:
            async with http.ws_connect(srv.url + "/ws?width=160&height=40") as ws:
                await _until(ws, _shows(bytearray(), "my-llama", "int4", "jetson-orin"), "the config's first frame")

    asyncio.run(first_frame())


def test_ctrl_c_with_an_open_tab_stops_its_app(server):
    """A tab still connected when Ctrl-C comes: the server asks its app to quit and waits for it."""
    _wait_for_url_line(server.proc)

    async def open_tab_then_interrupt():
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT_S)) as http:
            async with http.ws_connect(server.url + "/ws?width=100&height=30") as ws:
                screen = bytearray()

                def first_frame(msg):
                    screen.extend(msg.data if msg.type == aiohttp.WSMsgType.BINARY else b"")
                    return "gpt2-like" in _screen_text(bytes(screen))
                await _until(ws, first_frame, "the app's first frame")
                apps = _children(server.proc.pid)
                server.proc.send_signal(signal.SIGINT)
                deadline = time.monotonic() + WAIT_S
                while not ws.closed:
                    msg = await _receive(ws, deadline - time.monotonic())
                    assert msg is not None, "the server did not close the tab's websocket"
                    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                        break
                return apps

    apps = asyncio.run(open_tab_then_interrupt())
    assert apps
    assert server.proc.wait(WAIT_S) == 0
    assert not any(_alive(pid) for pid in apps), "an app process outlived the server"


# ----- bad input: one line on stderr, exit 2, and no server started -----

def _run(argv, capsys):
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def _one_line_error(rc, err, *needles):
    assert rc == 2, (rc, err)
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    for needle in needles:
        assert needle in err, (needle, err)


@pytest.fixture
def busy_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_busy_port_is_one_line(busy_port, capsys):
    rc, out, err = _run(["serve", "--model", "gpt2-like", "--port", busy_port], capsys)
    _one_line_error(rc, err, f"--port {busy_port}", "in use")


@pytest.mark.parametrize("host", ["not a host", "bad_host", "a..b", "x-.lan"])
def test_invalid_host_is_one_line(host, capsys):
    rc, out, err = _run(["serve", "--model", "gpt2-like", "--host", host, "--port", _free_port()], capsys)
    _one_line_error(rc, err, "--host", host)


@pytest.mark.parametrize("port", ["0", "70000", "http"])
def test_invalid_port_is_one_line(port, capsys):
    rc, out, err = _run(["serve", "--port", port], capsys)
    _one_line_error(rc, err, "--port")


def test_missing_profile_is_checked_before_the_server(busy_port, tmp_path, capsys):
    """The profile is checked first: with a busy port as well, the error names the profile."""
    missing = tmp_path / "nope.json"
    rc, out, err = _run(["serve", "--profile", missing, "--port", busy_port], capsys)
    _one_line_error(rc, err, "nope.json")
    rc, out, err = _run(["serve", "--model", "no-such-model", "--port", busy_port], capsys)
    _one_line_error(rc, err, "no-such-model")


@pytest.mark.parametrize("flags, needle", [
    (["--hf-config", "{tmp}/nope"], "nope"),
    (["--hf-config", "{tmp}/bad"], "num_attention_heads"),
    (["--model", "llama-3.1-8b", "--client-device", "tpu9"], "--client-device"),
    (["--model", "llama-3.1-8b", "--dtype", "fp9"], "--dtype"),
    (["--model", "gpt2-like", "--hf-config", "{tmp}/bad"], "--hf-config"),
])
def test_bad_config_device_or_dtype_is_checked_before_the_server(flags, needle, busy_port, tmp_path, capsys):
    """What the apps would be given is checked once, up front (with a busy port, the error names it)."""
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text(json.dumps({**TINY_LLAMA, "num_attention_heads": 0}))
    rc, out, err = _run(["serve", *(f.format(tmp=tmp_path) for f in flags), "--port", busy_port], capsys)
    _one_line_error(rc, err, needle)


def test_missing_extra_names_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "textual_serve", None)     # as if not installed
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)
    monkeypatch.delitem(sys.modules, "splittui.commands.serving", raising=False)
    rc, out, err = _run(["serve", "--model", "gpt2-like", "--port", _free_port()], capsys)
    _one_line_error(rc, err, "pip install 'splittui[serve]'")


# ----- the pieces -----

def test_app_command_forwards_the_profile_as_an_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = shlex.split(app_command(SimpleNamespace(model=None, profile="p.json")))
    assert argv == ["exec", sys.executable, "-m", "splittui", "--profile", str(tmp_path / "p.json")]
    argv = shlex.split(app_command(SimpleNamespace(model="gpt2 like", profile=None)))
    assert argv[-2:] == ["--model", "gpt2 like"]


def test_app_command_forwards_the_config_devices_and_dtype_and_the_app_takes_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["serve", "--hf-config", "cfg", "--client-device", "jetson-orin",
                                      "--server-device", "h100-sxm", "--dtype", "int4"])
    argv = shlex.split(app_command(args))
    assert argv[:4] == ["exec", sys.executable, "-m", "splittui"]
    assert argv[4:] == ["--hf-config", str(tmp_path / "cfg"), "--client-device", "jetson-orin",
                        "--server-device", "h100-sxm", "--dtype", "int4"]
    app_args = build_parser().parse_args(argv[4:])          # the app's own command line takes every one
    assert app_args.command is None and (app_args.hf_config, app_args.client_device, app_args.server_device,
                                         app_args.dtype) == (str(tmp_path / "cfg"), "jetson-orin", "h100-sxm", "int4")


def test_offer_download_only_when_served(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("a,b\n")
    calls = []
    deliver = lambda p, **kw: calls.append((p, kw))  # noqa: E731
    assert offer_download(SimpleNamespace(is_web=False, deliver_text=deliver), path) is False
    assert calls == []
    assert offer_download(SimpleNamespace(is_web=True, deliver_text=deliver), path) is True
    assert calls == [(path, {"encoding": "utf-8"})]

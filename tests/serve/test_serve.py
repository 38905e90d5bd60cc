"""`splittui serve` (issue 14): the served app answers over HTTP and its websocket, exports reach the
browser as downloads, Ctrl-C stops the server and every app process, and bad input is one line, exit 2.
The token, the files folder and the app limit (issue 33) are attacked in test_serve_guard.py.

No browser here: aiohttp's client speaks the same websocket protocol textual-serve's page does
(scripts/browser_check.py drives a real headless Chromium). Everything binds 127.0.0.1 only, and every
wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import shlex
import signal
import socket
import sys
import time
from types import SimpleNamespace

import aiohttp
import pytest
from serve_helpers import WAIT_S, alive, children, client, free_port, receive, screen_text, shows, until

from splittui.cli import build_parser, main
from splittui.commands.serve import app_command
from splittui.tui.delivery import offer_download

TINY_LLAMA = {"model_type": "llama", "hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 8,
              "num_key_value_heads": 2, "intermediate_size": 512, "vocab_size": 1000,
              "max_position_embeddings": 2048}


async def _session(server) -> tuple[str, bytes, set[int]]:
    screen = bytearray()

    def drawn(text):
        return shows(screen, text)

    def delivery_key(msg):
        if msg.type == aiohttp.WSMsgType.TEXT and (data := json.loads(msg.data))[0] == "deliver_file_start":
            return data[1]
        return None

    async with client() as http:
        async with http.get(f"{server.url}/?{server.query}") as page:   # the printed URL: its cookie, then /
            assert page.status == 200 and page.url.query_string == ""
            assert f"ws://127.0.0.1:{server.port}/ws" in await page.text()
        async with http.ws_connect(server.url + "/ws?width=120&height=40") as ws:   # with the cookie, as a page
            await until(ws, drawn("gpt2-like"), "the app's first frame")
            apps = children(server.proc.pid)
            screen.clear()
            await ws.send_json(["stdin", "s"])   # a slot, kept in the data dir (conftest: a temporary one)
            await ws.send_json(["stdin", "e"])   # at once: the first solve may not have landed yet (it waits)
            # the dialog's title, not "Export" (the footer's "e Export" comes back with any full repaint,
            # and an Enter sent then opens the deadline knob's typed-value dialog instead)
            await until(ws, drawn("Export a policy"), "the export dialog")
            await ws.send_json(["stdin", "\r"])
            key = await until(ws, delivery_key, "the download offer")
            async with http.get(f"{server.url}/download/{key}") as download:
                assert download.status == 200
                body = await download.read()
            return download.headers["Content-Disposition"], body, apps


def test_served_app_first_frame_export_download_and_ctrl_c(server):
    disposition, body, apps = asyncio.run(_session(server))

    assert not list(server.folder.glob("policy-*.json"))   # never where the server runs ...
    written = list(server.files.glob("policy-*.json"))
    assert len(written) == 1, written                      # ... but in the visitors' files folder ...
    assert body == written[0].read_bytes()                 # ... and the browser gets the same bytes
    assert json.loads(body)["schema"] == "splittui.policy/2"
    assert written[0].name in disposition and "attachment" in disposition
    assert apps, "the tab's app process was not found"
    assert server.files.parent.parent == server.folder / "splittui-data" / "serve"   # never the real home
    saved = json.loads((server.files.parent / "slots.json").read_text())   # this server's own slots
    assert [s["name"] for s in saved["slots"]] == ["slot 1"]
    assert not (server.folder / "splittui-data" / "slots.json").exists()   # not the terminal app's

    server.proc.send_signal(signal.SIGINT)                 # Ctrl-C, to the server only
    assert server.proc.wait(WAIT_S) == 0, server.proc.stderr.read()
    out, err = server.proc.stdout.read(), server.proc.stderr.read()
    assert "Traceback" not in err
    assert server.token not in out + err                   # the token is in the URL line only
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in apps) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in apps), "an app process outlived the server"


def test_served_app_opens_the_forwarded_config(serve, tmp_path):
    """--hf-config, the devices and the dtype reach every tab's app (issue 11 in the browser)."""
    folder = tmp_path / "my-llama"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(TINY_LLAMA))
    srv = serve("--hf-config", folder, "--client-device", "jetson-orin", "--dtype", "int4")

    async def first_frame():
        async with client() as http:
            async with http.ws_connect(f"{srv.url}/ws?width=160&height=40&{srv.query}") as ws:
                await until(ws, shows(bytearray(), "my-llama", "int4", "jetson-orin"), "the config's first frame")

    asyncio.run(first_frame())


def test_ctrl_c_with_an_open_tab_stops_its_app(server):
    """A tab still connected when Ctrl-C comes: the server asks its app to quit and waits for it."""

    async def open_tab_then_interrupt():
        async with client() as http:
            async with http.ws_connect(f"{server.url}/ws?width=100&height=30&{server.query}") as ws:
                screen = bytearray()

                def first_frame(msg):
                    screen.extend(msg.data if msg.type == aiohttp.WSMsgType.BINARY else b"")
                    return "gpt2-like" in screen_text(bytes(screen))
                await until(ws, first_frame, "the app's first frame")
                apps = children(server.proc.pid)
                server.proc.send_signal(signal.SIGINT)
                deadline = time.monotonic() + WAIT_S
                while not ws.closed:
                    msg = await receive(ws, deadline - time.monotonic())
                    assert msg is not None, "the server did not close the tab's websocket"
                    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                        break
                return apps

    apps = asyncio.run(open_tab_then_interrupt())
    assert apps
    assert server.proc.wait(WAIT_S) == 0
    assert not any(alive(pid) for pid in apps), "an app process outlived the server"


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
    rc, out, err = _run(["serve", "--model", "gpt2-like", "--host", host, "--port", free_port()], capsys)
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
    rc, out, err = _run(["serve", "--model", "gpt2-like", "--port", free_port()], capsys)
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

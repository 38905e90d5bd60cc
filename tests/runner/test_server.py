"""The server refuses malformed or oversized frames, closes only that connection, and keeps serving."""

from __future__ import annotations

import socket
import struct

import pytest
import torch

from splittui.errors import SplittuiError
from splittui.runner.client import Connection
from splittui.runner.link import Link
from splittui.runner.wire import encode_frame, recv_frame

FAST = Link(None, 0.0)


def _send_raw(port: int, data: bytes) -> tuple[dict | None, bytes]:
    """Send bytes, return the server's reply frame (if any) and confirm it then closed the socket."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        reply = recv_frame(s)
        rest = s.recv(10)
    return (reply[0] if reply else None), rest


def _works(port: int, toy) -> None:
    conn = Connection("127.0.0.1", port, timeout=10)
    try:
        assert conn.hello(toy.model)["stages"] == len(toy.stages)
        x = toy.make_input(8)
        out, _ = conn.run(0, 1, x, FAST, FAST)
        assert torch.equal(out[0], toy.stages[0].module(*x)[0])
    finally:
        conn.close()


@pytest.mark.parametrize("data, words", [
    (b"\x00garbage that is not a frame at all", "bad magic"),
    (struct.pack("<4sBBI", b"SPLT", 1, 1, 12) + b'{"op":"run"}' + struct.pack("<BBQQ", 0, 1, 1 << 30, 4 << 30),
     "size cap"),
    (b"".join(bytes(p) for p in encode_frame({"op": "launch-missiles"})), "unknown op"),
    (b"".join(bytes(p) for p in encode_frame({"op": "run", "start": 0, "stop": 999})), "stage range"),
    (b"".join(bytes(p) for p in encode_frame({"op": "run", "start": 1, "stop": 2}, (torch.zeros(3),))),
     "cannot run"),
])
def test_bad_frame_gets_an_error_and_the_server_keeps_serving(live_server, toy, data, words):
    server, port = live_server
    reply, rest = _send_raw(port, data)
    assert reply is not None and reply["op"] == "error" and words in reply["message"]
    assert rest == b""  # that connection was closed
    assert any(words in m for m in server.messages)
    _works(port, toy)


def test_a_good_client_is_served_while_a_bad_one_hangs(live_server, toy):
    _, port = live_server
    with socket.create_connection(("127.0.0.1", port)) as idle:
        idle.sendall(b"SPL")  # half a header, then nothing
        _works(port, toy)


def test_wrong_model_is_refused(live_server):
    _, port = live_server
    conn = Connection("127.0.0.1", port, timeout=5)
    with pytest.raises(SplittuiError, match="this server runs"):
        conn.hello("gpt2-like")
    conn.sock.close()


def test_connections_over_the_cap_are_refused_and_a_silent_peer_times_out(toy):
    import threading

    from splittui.runner.chains import fingerprint
    from splittui.runner.server import Server, bind

    messages: list[str] = []
    server = Server(toy, fingerprint(toy), max_connections=1, idle_s=0.5, log=messages.append)
    listener, stop = bind(), threading.Event()
    thread = threading.Thread(target=server.serve, args=(listener, stop.is_set), daemon=True)
    thread.start()
    port = listener.getsockname()[1]
    try:
        with socket.create_connection(("127.0.0.1", port)) as first:
            first.sendall(b"SP")  # holds the only slot, then goes silent
            reply, _ = _send_raw(port, b"")
            assert reply is not None and "busy" in reply["message"]
            first.settimeout(5)
            assert first.recv(10) == b""  # closed by the idle timeout
        _works(port, toy)  # the slot is free again
    finally:
        stop.set()
        thread.join(5)
        listener.close()

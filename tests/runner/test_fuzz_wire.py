"""The wire, fuzzed (issue 17, item 3): random bytes, huge claimed lengths, wrong dtype or shape,
truncated frames, connections dropped mid-frame and many connections at once. Each bad connection ends
with exactly one logged one-line reason, a well-formed client is served afterwards, no read asks for
more than the size cap (so nothing that big is allocated), and nothing is ever unpickled. 127.0.0.1
only; counts and timeouts bounded."""

from __future__ import annotations

import pickle
import socket
import struct
import threading
import time

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from splittui.runner import wire
from splittui.runner.client import Connection
from splittui.runner.link import Link
from splittui.runner.wire import ProtocolError, encode_frame, recv_frame

__all__ = ["frame_bytes", "bad_frames"]

WIRE_FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
FAST = Link(None, 0.0)
CAP = 1 << 20  # the live_server fixture's max_bytes
_HEAD = struct.Struct("<4sBBI")


def frame_bytes(meta: dict, tensors: tuple = ()) -> bytes:
    return b"".join(bytes(p) for p in encode_frame(meta, tensors))


def _tensor_head(code: int, shape: tuple, nbytes: int) -> bytes:
    return struct.pack("<BB", code, len(shape)) + b"".join(struct.pack("<Q", d) for d in shape) + \
        struct.pack("<Q", nbytes)


def _valid_frames(model: str) -> list[bytes]:
    x = (torch.randn(1, 8, 4),)
    return [frame_bytes({"op": "hello", "model": model}), frame_bytes({"op": "run", "start": 0, "stop": 1}, x),
            frame_bytes({"op": "run", "start": 0, "stop": 0, "per_stage": True}, (torch.zeros(3, dtype=torch.int8),))]


def _head(n_tensors: int, meta: bytes) -> bytes:
    return _HEAD.pack(b"SPLT", 1, n_tensors, len(meta)) + meta


@st.composite
def bad_frames(draw, model: str) -> tuple[bytes, str]:
    """(bytes to send, what they are): each breaks the protocol or is cut short."""
    valid = draw(st.sampled_from(_valid_frames(model)))
    kind = draw(st.sampled_from(("random", "flip", "truncate", "huge meta", "huge tensor", "dtype", "shape",
                                 "ndim", "meta")))
    run = b'{"op":"run","start":0,"stop":1}'
    if kind == "random":
        return draw(st.binary(min_size=1, max_size=64)), kind
    if kind == "flip":
        at = draw(st.integers(0, 11))  # in the header: magic, version, counts or length
        return valid[:at] + bytes([valid[at] ^ draw(st.integers(1, 255))]) + valid[at + 1:], f"flip byte {at}"
    if kind == "truncate":
        return valid[: draw(st.integers(1, len(valid) - 1))], kind
    if kind == "huge meta":
        return _HEAD.pack(b"SPLT", 1, 0, draw(st.integers(wire.MAX_META + 1, 2**32 - 1))), kind
    if kind == "huge tensor":
        n = draw(st.integers(CAP, 2**64 - 1))
        return _head(1, run) + _tensor_head(8, (n,), n), kind            # uint8, shape matches the length
    if kind == "dtype":
        return _head(1, run) + _tensor_head(draw(st.integers(len(wire._DTYPES), 255)), (4,), 4), kind
    if kind == "shape":
        shape = tuple(draw(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=4)))
        return _head(1, run) + _tensor_head(0, shape, draw(st.integers(0, 64))) + bytes(64), kind
    if kind == "ndim":
        return _head(1, run) + _tensor_head(0, (1,) * draw(st.integers(wire.MAX_NDIM + 1, 255)), 4), kind
    meta = draw(st.sampled_from([b"[]", b"{}", b'{"op":7}', b"\xff\xfe", b"NaN", b'{"op":"run","start":0,"stop":1,'
                                 b'"delay_ms":NaN}', b'{"op":"run","start":true,"stop":1}', b'{"op":"hello"}',
                                 b'{"op":"run","start":0,"stop":1,"down_mbps":-1}', b'{"op":"x"}' * 3]))
    return _head(0, meta), f"meta {meta!r}"


@pytest.fixture
def spy(monkeypatch):
    """Largest single read the wire asked for, and every attempt to unpickle."""
    seen = {"max_read": 0, "unpickled": []}
    real = wire._recv_exact

    def recv_exact(sock, n, buf=None):
        seen["max_read"] = max(seen["max_read"], n)
        return real(sock, n, buf)

    def no_pickle(name):
        def refuse(*a, **k):
            seen["unpickled"].append(name)
            raise AssertionError(f"{name} called")
        return refuse

    monkeypatch.setattr(wire, "_recv_exact", recv_exact)
    for mod, name in ((pickle, "loads"), (pickle, "load"), (pickle, "Unpickler"), (torch, "load")):
        monkeypatch.setattr(mod, name, no_pickle(f"{mod.__name__}.{name}"))
    yield seen
    assert seen["unpickled"] == []
    assert seen["max_read"] <= CAP


def _served(port: int, toy) -> None:
    conn = Connection("127.0.0.1", port, timeout=10)
    try:
        assert conn.hello(toy.model)["stages"] == len(toy.stages)
        out, _ = conn.run(0, 1, toy.make_input(8), FAST, FAST)
        assert out[0].shape == toy.stages[0].module(*toy.make_input(8))[0].shape
    finally:
        conn.close()


def _wait_for(predicate, seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def _send(port: int, data: bytes, *, drop: bool) -> list[dict]:
    """Send data; then either vanish (drop) or half-close and read every reply frame until EOF."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(data)
        if drop:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST, mid-frame
            return []
        s.shutdown(socket.SHUT_WR)
        replies = []
        while (frame := recv_frame(s)) is not None:
            replies.append(frame[0])
        return replies
    finally:
        s.close()


@WIRE_FUZZ
@given(data=st.data())
def test_fuzzed_connection_ends_with_one_logged_line_and_the_server_keeps_serving(live_server, toy, spy, data):
    server, port = live_server
    payload, what = data.draw(bad_frames(toy.model), label="frame")
    drop = data.draw(st.booleans(), label="drop") and what in ("truncate", "random")
    before = len(server.messages)
    replies = _send(port, payload, drop=drop)
    assert _wait_for(lambda: len(server.messages) > before), f"nothing logged for {what}"
    time.sleep(0.02)  # a second line, if one were coming, would be written by now
    new = server.messages[before:]
    assert len(new) == 1 and "\n" not in new[0], new
    if replies:
        assert replies[-1]["op"] == "error" and replies[-1]["message"] in new[0]
    _served(port, toy)


def test_many_bad_connections_at_once_each_end_with_one_line(live_server, toy, spy):
    server, port = live_server
    payloads = [b"\x00" * 7, _HEAD.pack(b"SPLT", 1, 0, 2**32 - 1), _valid_frames(toy.model)[1][:40], b"SPLT\x01"]
    before = len(server.messages)
    n = 40
    threads = [threading.Thread(target=_send, args=(port, payloads[i % len(payloads)]), kwargs={"drop": i % 3 == 0})
               for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert _wait_for(lambda: len(server.messages) - before >= n, 20), server.messages[before:]
    new = server.messages[before:]
    assert len(new) == n and all("\n" not in m for m in new)
    _served(port, toy)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_recv_frame_returns_a_frame_or_raises_protocol_error(spy, data):
    payload, _ = data.draw(bad_frames("runner-toy"), label="frame")
    a, b = socket.socketpair()
    with a, b:
        a.sendall(payload)
        a.shutdown(socket.SHUT_WR)
        try:
            recv_frame(b, max_bytes=CAP)
        except ProtocolError as exc:
            assert "\n" not in str(exc)

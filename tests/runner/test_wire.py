"""The framed protocol: round trips keep dtype, shape and values; every malformed frame is refused."""

from __future__ import annotations

import json
import socket
import struct

import pytest
import torch
from hypothesis import given, settings, strategies as st

from splittui.runner.wire import MAX_META, ProtocolError, encode_frame, recv_frame

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int8,
          torch.uint8, torch.bool]


def _roundtrip(meta, tensors, max_bytes=1 << 24):
    a, b = socket.socketpair()
    with a, b:
        for part in encode_frame(meta, tensors):
            a.sendall(part)
        return recv_frame(b, max_bytes=max_bytes)


@settings(max_examples=25, deadline=None)
@given(dtype=st.sampled_from(DTYPES), shape=st.lists(st.integers(0, 5), max_size=4), n=st.integers(1, 3))
def test_roundtrip_keeps_dtype_shape_values(dtype, shape, n):
    g = torch.Generator().manual_seed(len(shape))
    tensors = tuple((torch.randn(shape, generator=g) * 50).to(dtype) for _ in range(n))
    meta, got = _roundtrip({"op": "run", "x": [1, 2]}, tensors)
    assert meta == {"op": "run", "x": [1, 2]}
    assert len(got) == n
    for t, u in zip(tensors, got):
        assert u.dtype == t.dtype and u.shape == t.shape and torch.equal(u, t)


def test_non_contiguous_tensor_is_sent_as_its_values():
    t = torch.arange(12.0).reshape(3, 4).t()
    _, (u,) = _roundtrip({"op": "x"}, (t,))
    assert torch.equal(u, t)


def _raw(data: bytes, max_bytes=1 << 20):
    a, b = socket.socketpair()
    with a, b:
        a.sendall(data)
        a.shutdown(socket.SHUT_WR)
        return recv_frame(b, max_bytes=max_bytes)


def _frame(meta=b'{"op":"run"}', tensors=b"", n=0, magic=b"SPLT", version=1):
    return struct.pack("<4sBBI", magic, version, n, len(meta)) + meta + tensors


def _tensor(code=0, shape=(2, 2), nbytes=16, data=None):
    head = struct.pack("<BB", code, len(shape)) + b"".join(struct.pack("<Q", d) for d in shape)
    return head + struct.pack("<Q", nbytes) + (bytes(nbytes) if data is None else data)


@pytest.mark.parametrize("data, words", [
    (b"GET / HTTP/1.1\r\n\r\n", "magic"),
    (_frame(version=9), "version"),
    (_frame(meta=b"{not json"), "JSON"),
    (_frame(meta=b"[1,2]"), "'op'"),
    (_frame(n=1, tensors=_tensor(code=200)), "dtype"),
    (_frame(n=1, tensors=_tensor(shape=(3, 3), nbytes=16)), "does not match"),
    (_frame(n=1, tensors=_tensor(shape=(1 << 20,), nbytes=4 << 20, data=b"")), "size cap"),
    (_frame(n=1, tensors=_tensor(shape=(1,) * 9, nbytes=4)), "dimensions"),
    (_frame(n=1, tensors=_tensor()[:-5]), "closed"),
    (struct.pack("<4sBBI", b"SPLT", 1, 0, MAX_META + 1), "out of bounds"),
])
def test_malformed_frames_raise_protocol_error(data, words):
    with pytest.raises(ProtocolError, match=words):
        _raw(data)


def test_clean_close_between_frames_is_not_an_error():
    assert _raw(b"") is None


def test_encode_refuses_what_it_cannot_describe():
    with pytest.raises(ProtocolError):
        encode_frame({"op": "x"}, (torch.zeros(2, dtype=torch.complex64),))
    with pytest.raises(ProtocolError):
        encode_frame({"op": "x", "blob": "a" * (MAX_META + 1)})
    assert json.loads(bytes(encode_frame({"op": "ok"})[1])) == {"op": "ok"}

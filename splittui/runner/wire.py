"""The framed wire protocol between split-inference client and server; no pickle anywhere.

One frame = a fixed header, a small JSON object (the message: op and arguments), then tensors,
each with its own binary header (dtype code, shape, byte length) and raw bytes:

    frame   := MAGIC(4) VERSION(u8) n_tensors(u8) meta_len(u32) meta(meta_len bytes, UTF-8 JSON) tensor*
    tensor  := dtype(u8) ndim(u8) dim(u64)*ndim nbytes(u64) data(nbytes)

Every length is checked before anything is allocated: the JSON against ``MAX_META``, each shape
against its byte length, and the running total against the receiver's ``max_bytes`` cap. A frame
that breaks any rule raises ``ProtocolError``; the caller closes that connection.
"""

from __future__ import annotations

import json
import math
import socket
import struct

import torch

__all__ = ["ProtocolError", "MAX_META", "DEFAULT_MAX_BYTES", "encode_frame", "recv_frame", "frame_size"]

MAGIC = b"SPLT"
VERSION = 1
MAX_META = 64 * 1024
MAX_TENSORS = 64
MAX_NDIM = 8
DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB per frame

_HEAD = struct.Struct("<4sBBI")
_TENSOR = struct.Struct("<BB")
_U64 = struct.Struct("<Q")

_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32,
           torch.int16, torch.int8, torch.uint8, torch.bool)
_CODE = {dt: i for i, dt in enumerate(_DTYPES)}


class ProtocolError(Exception):
    """A frame broke the protocol (bad magic, unknown dtype, size over the cap, short read...)."""


def _tensor_bytes(t: torch.Tensor) -> memoryview:
    flat = t.detach().to("cpu").contiguous().reshape(-1)
    return flat.view(torch.uint8).numpy().data.cast("B")


def encode_frame(meta: dict, tensors: tuple = ()) -> list:
    """The frame as a list of byte buffers (header pieces and zero-copy tensor views)."""
    if len(tensors) > MAX_TENSORS:
        raise ProtocolError(f"too many tensors in one frame ({len(tensors)} > {MAX_TENSORS})")
    body = json.dumps(meta, separators=(",", ":"), allow_nan=False).encode()
    if len(body) > MAX_META:
        raise ProtocolError(f"message too large ({len(body)} bytes > {MAX_META})")
    parts: list[bytes | memoryview] = [_HEAD.pack(MAGIC, VERSION, len(tensors), len(body)), body]
    for t in tensors:
        if not isinstance(t, torch.Tensor) or t.dtype not in _CODE:
            raise ProtocolError(f"cannot send {type(t).__name__} {getattr(t, 'dtype', '')}: tensors of "
                                f"{', '.join(str(d) for d in _DTYPES)} only")
        data = _tensor_bytes(t)
        head = _TENSOR.pack(_CODE[t.dtype], t.dim()) + b"".join(_U64.pack(d) for d in t.shape)
        parts += [head + _U64.pack(data.nbytes), data]
    return parts


def frame_size(parts: list) -> int:
    return sum(memoryview(p).nbytes for p in parts)


def _recv_exact(sock: socket.socket, n: int, buf: bytearray | None = None) -> bytearray:
    buf = bytearray(n) if buf is None else buf
    view, got = memoryview(buf), 0
    while got < n:
        k = sock.recv_into(view[got:], n - got)
        if k == 0:
            raise ProtocolError(f"connection closed in the middle of a frame ({got} of {n} bytes)")
        got += k
    return buf


def _recv_head(sock: socket.socket) -> tuple[int, int] | None:
    first = sock.recv(1)
    if not first:
        return None  # clean end of stream between frames
    head = bytes(first) + bytes(_recv_exact(sock, _HEAD.size - 1))
    magic, version, n_tensors, meta_len = _HEAD.unpack(head)
    if magic != MAGIC:
        raise ProtocolError(f"bad magic {magic!r}: not a splittui frame")
    if version != VERSION:
        raise ProtocolError(f"protocol version {version}, expected {VERSION}")
    if n_tensors > MAX_TENSORS or meta_len > MAX_META:
        raise ProtocolError(f"frame header out of bounds ({n_tensors} tensors, {meta_len}-byte message)")
    return n_tensors, meta_len


def _recv_tensor(sock: socket.socket, budget: int) -> torch.Tensor:
    code, ndim = _TENSOR.unpack(bytes(_recv_exact(sock, _TENSOR.size)))
    if code >= len(_DTYPES):
        raise ProtocolError(f"unknown dtype code {code}")
    if ndim > MAX_NDIM:
        raise ProtocolError(f"tensor with {ndim} dimensions (max {MAX_NDIM})")
    raw = bytes(_recv_exact(sock, _U64.size * (ndim + 1)))
    *shape, nbytes = (_U64.unpack_from(raw, 8 * i)[0] for i in range(ndim + 1))
    dtype = _DTYPES[code]
    itemsize = torch.empty((), dtype=dtype).element_size()
    if nbytes > budget:
        raise ProtocolError(f"frame over the size cap ({nbytes} more bytes, {budget} left)")
    if math.prod(max(d, 1) for d in shape) > max(budget, 1):  # an empty tensor's other dims: torch would overflow
        raise ProtocolError(f"shape {tuple(shape)} is over the size cap ({budget} bytes left)")
    if math.prod(shape) * itemsize != nbytes:
        raise ProtocolError(f"shape {tuple(shape)} of {dtype} does not match byte length {nbytes}")
    if nbytes == 0:
        return torch.empty(tuple(shape), dtype=dtype)
    buf = _recv_exact(sock, nbytes)
    return torch.frombuffer(buf, dtype=dtype).reshape(tuple(shape))


def recv_frame(sock: socket.socket, *, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[dict, tuple] | None:
    """Read one frame: (message dict, tensors), or None if the peer closed between frames."""
    head = _recv_head(sock)
    if head is None:
        return None
    n_tensors, meta_len = head
    try:
        meta = json.loads(bytes(_recv_exact(sock, meta_len)).decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"message is not UTF-8 JSON ({exc})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("op"), str):
        raise ProtocolError("message must be a JSON object with a string 'op'")
    budget = max_bytes - _HEAD.size - meta_len
    tensors = []
    for _ in range(n_tensors):
        t = _recv_tensor(sock, budget)
        budget -= t.numel() * t.element_size()
        tensors.append(t)
    return meta, tuple(tensors)

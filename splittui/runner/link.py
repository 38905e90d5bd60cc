"""The emulated network link: the sender adds the one-way delay and paces bytes to the bandwidth.

The link lives in the application, not the kernel: ``send_paced`` first waits the one-way delay,
then writes the frame in small chunks, each released only once ``rate × elapsed`` covers every byte
up to its end (a token bucket one chunk deep, store-and-forward per chunk), so the receiver never
holds a byte before the emulated link could have delivered it. A transfer of
``n`` bytes therefore takes ``delay + n·8 / (mbps·10^3)`` ms, the cost model's formula (SPEC §2),
plus whatever the operating system adds, which the runner measures and reports.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

__all__ = ["Link", "send_paced", "PacedLink"]

_MIN_CHUNK = 1024
_MAX_CHUNK = 256 * 1024
_CHUNK_S = 0.002  # one chunk is at most ~2 ms of transfer, so pacing stays smooth


@dataclass(frozen=True, slots=True)
class Link:
    """One direction of the link; ``mbps=None`` means unpaced (as fast as loopback goes)."""

    mbps: float | None
    delay_ms: float = 0.0

    @property
    def bytes_per_s(self) -> float | None:
        return None if self.mbps is None else self.mbps * 1e6 / 8.0

    def model_ms(self, nbytes: int) -> float:
        """What the cost model charges for ``nbytes`` over this link."""
        return self.delay_ms + (0.0 if self.mbps is None else nbytes * 8.0 / (self.mbps * 1e3))


def _sleep_until(t: float) -> None:
    left = t - time.perf_counter()
    if left > 0:
        time.sleep(left)


def _chunks(parts: list, size: int):
    for part in parts:
        view = memoryview(part).cast("B")
        for i in range(0, view.nbytes, size):
            yield view[i:i + size]


def send_paced(sock: socket.socket, parts: list, link: Link) -> float:
    """Send the buffers over ``sock`` as ``link`` allows; returns the wall time taken in ms."""
    t0 = time.perf_counter()
    if link.delay_ms > 0:
        _sleep_until(t0 + link.delay_ms / 1e3)
    rate = link.bytes_per_s
    if rate is None:
        for part in parts:
            sock.sendall(part)
        return (time.perf_counter() - t0) * 1e3
    chunk = int(min(_MAX_CHUNK, max(_MIN_CHUNK, rate * _CHUNK_S)))
    start, sent = time.perf_counter(), 0
    for piece in _chunks(parts, chunk):
        sent += piece.nbytes
        _sleep_until(start + sent / rate)  # a chunk leaves once the link could have carried all of it
        sock.sendall(piece)
    return (time.perf_counter() - t0) * 1e3


class PacedLink:
    """The application-paced link as a context manager, beside ``KernelLink``: nothing to set up."""

    kind = "paced"
    shape = None  # the rate travels with each job; the sender paces it

    def __init__(self, why: str = "") -> None:
        self.why = why

    def __enter__(self) -> "PacedLink":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def describe(self) -> str:
        note = f" ({self.why})" if self.why else ""
        return (f"paced: loopback TCP, the sender adds the one-way delay and paces bytes to the bandwidth in the "
                f"application{note}")

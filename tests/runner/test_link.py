"""The emulated link: a paced bulk transfer arrives at the set bandwidth, after the set delay."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from splittui.runner.link import Link, send_paced


def _receive_all(sock: socket.socket, n: int, stamps: list) -> None:
    got = 0
    while got < n:
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        if got == 0:
            stamps.append(time.perf_counter())
        got += len(chunk)
    stamps.append(time.perf_counter())


@pytest.mark.parametrize("mbps, nbytes", [(80.0, 1_500_000), (400.0, 5_000_000)])
def test_bulk_transfer_runs_at_the_set_bandwidth(mbps, nbytes):
    a, b = socket.socketpair()
    stamps: list[float] = []
    with a, b:
        reader = threading.Thread(target=_receive_all, args=(b, nbytes, stamps))
        reader.start()
        t0 = time.perf_counter()
        send_paced(a, [bytes(nbytes)], Link(mbps, 0.0))
        reader.join(10)
    measured_mbps = nbytes * 8 / ((stamps[-1] - t0) * 1e6)
    # never faster than the set rate (a chunk leaves only once the link could have carried it); how much
    # slower depends on the machine's load, so only a gross miss fails
    assert measured_mbps <= 1.02 * mbps and measured_mbps >= 0.25 * mbps, measured_mbps


def test_delay_comes_before_the_first_byte():
    a, b = socket.socketpair()
    stamps: list[float] = []
    with a, b:
        reader = threading.Thread(target=_receive_all, args=(b, 100, stamps))
        reader.start()
        t0 = time.perf_counter()
        ms = send_paced(a, [bytes(100)], Link(None, 30.0))
        reader.join(10)
    assert (stamps[0] - t0) * 1e3 >= 30.0
    assert 30.0 <= ms < 60.0


def test_model_ms_is_the_cost_model_formula():
    assert Link(100.0, 10.0).model_ms(1_250_000) == pytest.approx(10.0 + 100.0)
    assert Link(None, 5.0).model_ms(10**9) == 5.0

"""Fixtures for the runner tests: the toy chain and an in-process server on a free loopback port."""

from __future__ import annotations

import threading

import pytest

from splittui.runner.chains import ChainSpec, build_chain, fingerprint
from splittui.runner.server import Server, bind


@pytest.fixture(scope="module")
def toy():
    return build_chain(ChainSpec("runner-toy"))


@pytest.fixture
def live_server(toy):
    """(server, port) served from a thread; stopped and joined after the test."""
    messages: list[str] = []
    server = Server(toy, fingerprint(toy), max_bytes=1 << 20, log=messages.append)
    listener = bind("127.0.0.1", 0)
    stop = threading.Event()
    thread = threading.Thread(target=server.serve, args=(listener, stop.is_set), daemon=True)
    thread.start()
    server.messages = messages
    yield server, listener.getsockname()[1]
    stop.set()
    thread.join(5)
    listener.close()


@pytest.fixture(autouse=True)
def _no_flush_denormal_leak():
    """Profiling turns flush-denormal on for the process; later float tests (hypothesis) must not see it."""
    yield
    import torch

    torch.set_flush_denormal(False)

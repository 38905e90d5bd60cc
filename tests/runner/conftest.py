"""Fixtures for the runner tests: the toy chain, an in-process server on a free loopback port, and one
planning profile of the toy chain that the modules share (each `splittui profile` of it starts two
processes that import torch: the slowest setup of the runner tests)."""

from __future__ import annotations

import threading

import pytest
from runner_helpers import DEFAULT_RUN, once_per_run, run_main, toy_plan

from splittui.runner.chains import ChainSpec, build_chain, fingerprint
from splittui.runner.server import Server, bind


@pytest.fixture(scope="session")
def toy_plan_16_32(tmp_path_factory, worker_id):
    """A planning profile of the toy chain at lengths 16 and 32 (`splittui profile --server cpu:1
    --repeats 1`), made once per run; tests read it and write doctored copies elsewhere."""
    return once_per_run(tmp_path_factory, worker_id, "toy-plan-16-32",
                         lambda folder: toy_plan(folder, "16,32", repeats=1)) / "toy.json"


@pytest.fixture(scope="session")
def toy_default_run(tmp_path_factory, worker_id):
    """`splittui run` (DEFAULT_RUN) into an empty cache folder, made once per run: what it printed
    (code, out, err), the cache folder and the planning profile it measured and cached there (`path`,
    `doc`: the file as it was written). Tests only read the folder; those that doctor the cached file work
    on copies."""
    import json
    from types import SimpleNamespace

    def make(folder):
        cache = folder / "cache"
        cache.mkdir(exist_ok=True)   # a worker whose make failed may have left it
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("SPLITTUI_CACHE_DIR", str(cache))
            ran = run_main(DEFAULT_RUN)
        assert ran.code == 0, ran.err[-800:]
        (folder / "ran.json").write_text(json.dumps({"code": ran.code, "out": ran.out, "err": ran.err}))

    folder = once_per_run(tmp_path_factory, worker_id, "default-run", make)
    ran = SimpleNamespace(**json.loads((folder / "ran.json").read_text()))
    ran.cache = folder / "cache"
    ran.json = json.loads(ran.out)
    threads = ran.json["server"].split()[0].split(":")[1]
    ran.path = ran.cache / f"runner-toy-s16-client1-cpu{threads}.json"
    ran.bytes = ran.path.read_bytes()
    return ran


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

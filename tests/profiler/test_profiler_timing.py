"""How `splittui profile` times stages: inside whole in-order passes (prefill) and inside in-order
one-token decode steps over a KV cache (decode), client and CPU server alternating, as a request runs
them; the method is written into the profile. A stage that is slow only right after the stage before
it (a cold cache, here made visible with a sleep) must show its in-pass time, which timing it over
and over on its own would hide."""

from __future__ import annotations

import time

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from splittui.profiler import (  # noqa: E402
    DECODE_TIMING,
    PREFILL_TIMING,
    TIMING,
    build,
    kv,
    profile_model,
)
from splittui.profiler import run as run_mod  # noqa: E402
from splittui.profiler.chain import Chain, Stage  # noqa: E402
from splittui.profiler.decode import add_decode_fields  # noqa: E402
from splittui.profiler.servers import PRESETS, parse_server  # noqa: E402

COLD_S = 0.03  # what the "cold" stage costs right after its predecessor; warm it costs ~nothing


class _Flag:
    cold = False


class _Heats(nn.Module):
    """Passes the state on and leaves the next stage cold (as a stage that evicts the caches)."""

    def __init__(self, inner: nn.Module | None = None, flag: _Flag | None = None) -> None:
        super().__init__()
        self.inner, self.flag = inner, flag or _Flag()

    def forward(self, *state):
        self.flag.cold = True
        out = self.inner(*state) if self.inner is not None else state
        return out if isinstance(out, tuple) else (out,)


class _PaysWhenCold(nn.Module):
    """Slow once right after its predecessor ran, fast when run again on its own."""

    def __init__(self, flag: _Flag, inner: nn.Module | None = None) -> None:
        super().__init__()
        self.inner, self.flag = inner, flag

    def forward(self, *state):
        if self.flag.cold:
            time.sleep(COLD_S)
            self.flag.cold = False
        out = self.inner(*state) if self.inner is not None else state
        return out if isinstance(out, tuple) else (out,)


def _cold_chain() -> Chain:
    flag = _Flag()
    lin = nn.Linear(8, 8)
    stages = [Stage("a", "linear", _Heats(lin, flag)), Stage("b", "other", _PaysWhenCold(flag))]
    return Chain(model="cold-toy", description="a stage that is slow right after its predecessor",
                 stages=stages, make_input=lambda n: (torch.randn(1, n, 8),))


@pytest.mark.parametrize("server", ["rtx3090", "cpu:1"])
def test_prefill_stage_times_are_taken_inside_in_order_passes(server):
    doc = profile_model(_cold_chain(), [4], repeats=3, server=server, fvcore=False)
    b = doc["layers"][1]
    assert b["client_ms"][0] >= 0.8 * COLD_S * 1e3  # its time inside a pass, not warm on its own
    if server.startswith("cpu"):
        assert b["server_ms"][0] >= 0.8 * COLD_S * 1e3
    assert doc["profiling"]["timing"] == {"prefill": PREFILL_TIMING}
    assert PREFILL_TIMING in doc["source"]["timing"] and PREFILL_TIMING in doc["source"]["client"]


def test_a_cpu_server_alternates_pass_by_pass_with_the_client(monkeypatch):
    seen: list[tuple[str, int | None]] = []
    real = run_mod._pass

    def spy(run, state, side, first):
        seen.append((side.label.split()[0], side.threads))
        return real(run, state, side, first)

    monkeypatch.setattr(run_mod, "_pass", spy)
    doc = profile_model(build("gpt2-like", tiny=True), [8, 12], repeats=3, threads=1, server="cpu:2", fvcore=False)
    per_length = [("seq", 1), ("server", 2)] * 3  # a first (warm-up) pass each, then 2 timed pairs
    assert seen == per_length * 2
    assert "alternating with the client's" in doc["source"]["server"]
    assert [len(p) for p in doc["profiling"]["server_pass_ms"]] == [2, 2]
    cores = doc["source"]["other_cpu_cores"]  # how busy other processes kept the machine meanwhile
    assert cores is None or cores >= 0


def _cold_gpt():
    """The tiny gpt2-like chain with its first norm made to leave the QKV projection after it cold."""
    chain = build("gpt2-like", tiny=True)
    flag = _Flag()
    i = next(k for k, s in enumerate(chain.stages) if s.name == "h0.ln1")
    chain.stages[i].module = _Heats(chain.stages[i].module, flag)
    chain.stages[i + 1].module = _PaysWhenCold(flag, chain.stages[i + 1].module)
    return chain, chain.stages[i + 1].name


@pytest.mark.parametrize("server", ["rtx3090", "cpu:1"])
def test_decode_stage_times_are_taken_inside_in_order_decode_steps(server):
    chain, cold = _cold_gpt()
    doc = profile_model(chain, [6, 9], repeats=1, server=server, fvcore=False)
    doc = add_decode_fields(doc, chain, server=parse_server(server), repeats=3)
    layer = next(lay for lay in doc["layers"] if lay["name"] == cold)
    assert min(layer["dec_client_ms"]) >= 0.8 * COLD_S * 1e3
    if server.startswith("cpu"):
        assert min(layer["dec_server_ms"]) >= 0.8 * COLD_S * 1e3
        assert "alternating" in doc["source"]["decode"]
    assert doc["profiling"]["timing"] == TIMING
    assert DECODE_TIMING in doc["source"]["decode"]


def test_decode_steps_append_to_a_kv_cache_of_about_the_context(monkeypatch):
    """The profile's decode steps run the run's own code: each core appends to a cache holding exactly
    the step's position, close to the context being profiled."""
    calls: list[tuple[int, int | None, int]] = []
    real = kv._core

    def spy(m, state, i, cache, pos):
        calls.append((i, pos, int(cache[i][0].shape[2]) if pos is not None else -1))
        return real(m, state, i, cache, pos)

    monkeypatch.setattr(kv, "_core", spy)
    chain = build("gpt2-like", tiny=True)
    doc = profile_model(chain, [40], repeats=1, fvcore=False)
    add_decode_fields(doc, chain, server=PRESETS["rtx3090"], repeats=3)
    assert calls and all(pos is not None and held == pos for _, pos, held in calls)
    timed = sorted({pos for _, pos, _ in calls})
    assert timed == [38, 39, 40, 41]  # a warm-up step, then 3 timed: the middle one attends over 41 = c + 1 keys


def test_a_cpu_server_is_timed_in_its_own_process_where_the_chain_can_be_rebuilt(monkeypatch):
    """As `splittui run`'s server: a stage slow only outside the profiling process shows its slowness on
    the server side alone; a chain without a recipe (built here) is timed in this process."""
    import multiprocessing
    import os
    from pathlib import Path

    from splittui.profiler import load_factory

    monkeypatch.setenv("PID_CHAIN_HOME", str(os.getpid()))
    spec = f"{Path(__file__).with_name('pid_chain.py')}:build"
    doc = profile_model(load_factory(spec), [4], repeats=2, server="cpu:1", fvcore=False)
    layer = doc["layers"][0]
    assert layer["client_ms"][0] < 20.0 <= layer["server_ms"][0]
    assert doc["profiling"]["server_process"] == "own" and "in its own process" in doc["source"]["server"]
    assert multiprocessing.active_children() == []      # the server process is gone
    chain = load_factory(spec)
    del chain.meta["rebuild"]
    here = profile_model(chain, [4], repeats=2, server="cpu:1", fvcore=False)
    assert here["layers"][0]["server_ms"][0] < 20.0 and "server_process" not in here["profiling"]
    assert "in the profiling process" in here["source"]["server"]


def test_cancelling_a_profile_stops_its_server_process():
    import multiprocessing

    from splittui.profiler import ProfilingCancelled

    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    with pytest.raises(ProfilingCancelled):
        profile_model(build("gpt2-like", tiny=True), [8], repeats=3, server="cpu:1", fvcore=False, should_stop=stop)
    assert multiprocessing.active_children() == []


def test_the_server_process_is_not_counted_as_other_load(monkeypatch):
    """`source.other_cpu_cores` is the load of *other* processes: the profile's own server process,
    busy with its passes, must be among the pids left out, sampled while it still runs."""
    import os

    seen: list[list[int]] = []
    real = run_mod.OthersCpu

    class Spy(real):  # type: ignore[misc, valid-type]
        def cores(self):
            pids = self.pids()
            seen.append([p for p in pids if os.path.exists(f"/proc/{p}")])
            return super().cores()

    monkeypatch.setattr(run_mod, "OthersCpu", Spy)
    profile_model(build("gpt2-like", tiny=True), [8], repeats=2, server="cpu:1", fvcore=False)
    assert len(seen) == 1 and len(seen[0]) == 2 and os.getpid() in seen[0]

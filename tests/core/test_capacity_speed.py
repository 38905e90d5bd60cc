"""Proof that the capacity simulation's fast loop changes no number (issue 27; its speed is measured by
`python benchmarks/bench_capacity_sim.py`, a benchmark that prints a table, not a timed test).

`simulate_server` (compiled batched-step kernels, a tighter event loop) must give bit-for-bit the same
per-request TTFT, TPOT and end-to-end times, and the same server figures, as the loop it replaced,
kept verbatim in capacity_oracle.py; and the compiled kernels must equal the interpreted
`ServerModel.step_terms` / `step_views` on any batch.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from capacity_oracle import simulate_server_reference

from splittui.devices import resolve_device
from splittui.llm import load_any
from splittui.model import Scenario
from splittui.sim.capacity import SimOptions, poisson_workload, simulate_server
from splittui.sim.kernel import compile_terms, compile_views
from splittui.sim.server import ClientClass, ServerModel, client_class, server_model

_MIX = (("jetson-orin", 20.0, 100.0, 0.5), ("phone-soc", 10.0, 50.0, 0.3), ("laptop-cpu", 20.0, 100.0, 0.2))


def _prefix(n: int, k: int) -> tuple[int, ...]:
    return (1,) * k + (0,) * (n - k)


@pytest.fixture(scope="module")
def mix():
    """Three client classes of llama-3.1-8b (their own devices and links) and their scenarios."""
    out = []
    for dev, up, down, w in _MIX:
        p = load_any("llama-3.1-8b", client_device=dev, server_device="a100-80gb", include_seq=[512, 575])
        out.append((p, Scenario(deadline_ms=1e9, up_mbps=up, down_mbps=down, seq_len=512, gen_tokens=64), w))
    return out


def _classes(mix, policies) -> list[ClientClass]:
    return [client_class(p, sc, pol, name=f"c{i}", weight=w) for i, ((p, sc, w), pol) in enumerate(zip(mix, policies))]


def _server(mix, classes, mem_gb=None) -> ServerModel:
    p, sc, _ = mix[0]
    return server_model(p, sc, resolve_device("a100-80gb"), classes, mem_gb=mem_gb)


def _same(a, b) -> None:
    """Every per-request array and every server figure equal, bit for bit (NaN where NaN)."""
    for f in ("ttft_ms", "tpot_ms", "e2e_ms", "in_server_sojourn_ms", "mem_t_ms", "mem_bytes"):
        x, y = getattr(a, f), getattr(b, f)
        assert x.shape == y.shape and np.array_equal(x, y, equal_nan=True), f
    for f in ("dropped", "horizon_ms", "busy_ms", "compute_bound_ms", "decode_ms", "in_server_mean", "mean_batch",
              "peak_mem_bytes", "mem_limit_bytes"):
        assert getattr(a, f) == getattr(b, f), f


def _cases(mix):
    """(name, classes, server, options, rate req/s): one class, three classes at three cuts (each scheduling
    knob), a client-only class beside server ones, a split with two switches, and a memory-bound server."""
    n = mix[0][0].n_layers
    one = _classes(mix[:1], [_prefix(n, 0)])
    three = _classes(mix, [_prefix(n, 0), _prefix(n, 9), _prefix(n, 17)])
    odd = _classes(mix, [_prefix(n, 0), (1,) * n, (1,) * 9 + (0,) * 16 + (1,) * 8 + (0,) * (n - 33)])
    yield "one class", one, _server(mix[:1], one), SimOptions(), 9.0
    yield "three cuts", three, _server(mix, three), SimOptions(), 7.0
    yield "three, chunked", three, _server(mix, three), SimOptions(prefill="chunked", chunk_tokens=64), 7.0
    yield "three, random phase", three, _server(mix, three), SimOptions(phase="random"), 6.0
    yield "three, max batch", three, _server(mix, three), SimOptions(max_batch=6, max_queue=40), 7.0
    yield "client-only and two switches", odd, _server(mix, odd), SimOptions(), 8.0
    yield "memory-bound", three, _server(mix, three, mem_gb=20.0), SimOptions(max_queue=30), 9.0


def test_same_numbers_as_the_old_loop(mix) -> None:
    """The fast loop against the old one on seven cases x two seeds (rates around each one's capacity)."""
    for name, classes, server, opt, rate in _cases(mix):
        for seed in (0, 7):
            wl = poisson_workload(rate, 1200, classes, seed=seed)
            new = simulate_server(wl, classes, server, opt)
            old = simulate_server_reference(wl, classes, server, opt)
            assert new.completed > 0, name
            try:
                _same(new, old)
            except AssertionError as exc:
                raise AssertionError(f"{name}, seed {seed}: {exc}") from None


def _random_inputs(rng: random.Random, k: int) -> tuple[list[float], ...]:
    """Batches with zeros, fractions below one and large values, as the fluid loop makes them."""
    b = [rng.choice((0.0, rng.random() * 0.9, 1.0, rng.random() * 400.0)) for _ in range(k)]
    s = [x * rng.uniform(100.0, 3000.0) for x in b]
    ob = [rng.choice((0.0, rng.random(), 1.0)) for _ in range(k)]
    os_ = [x * rng.uniform(100.0, 3000.0) for x in ob]
    return b, s, ob, os_


def _check_kernels(server: ServerModel, draws: int = 3000) -> None:
    rng = random.Random(11)
    terms, views = server.terms_fn(), server.views_fn()
    assert terms != server.step_terms and views != server.step_views        # compiled, not the fallback
    for _ in range(draws):
        b, s, ob, os_ = _random_inputs(rng, server.classes)
        assert terms(b, s) == server.step_terms(b, s)
        assert views(b, s, ob, os_) == server.step_views(b, s, ob, os_)


def test_compiled_kernels_equal_the_interpreted_step(mix) -> None:
    n = mix[0][0].n_layers
    three = _classes(mix, [_prefix(n, 0), _prefix(n, 9), _prefix(n, 17)])
    _check_kernels(_server(mix, three))
    one = _classes(mix[:1], [_prefix(n, 5)])
    _check_kernels(_server(mix[:1], one))


def test_kernels_keep_every_term_where_a_constant_is_negative() -> None:
    """A negative constant: no term is left out (0.0·v + z = z needs z >= 0), still the same numbers."""
    table = ((2.0, -0.5, 0.0, 3.0, 0.0, 0.0, 1.0, (0,)), (0.0, 0.0, 5.0, 0.0, 1.0, 0.25, 3.0, (0, 1)),
             (1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, (1,)))
    srv = ServerModel(device="t", ms_per_flop=0.5, ms_per_byte=0.25, f0=np.zeros(3), f1=np.zeros(3),
                      weights=np.zeros(3), kv=np.zeros(3), act=np.zeros(3), over=np.zeros(3), count=np.ones(3),
                      mask=np.ones((2, 3)), resident_bytes=0.0, budget_bytes=math.inf, table=table)
    _check_kernels(srv)
    assert compile_views(0.5, math.inf, table, 2) is None and compile_terms(math.nan, 0.25, table, 2) is None

"""Issue 12 item 5: `simulate` with output lengths drawn per request and server memory as a second resource.

Oracles: the two-resource FIFO against a plain event-by-event simulation (a queue, a list of running
jobs, time jumping from event to event); the per-length request costs against a direct sum over
contexts (np.interp) and against `generation.request_times` on the composite chain of that length;
the sweep's stored placements against its own reported latencies.
"""

from __future__ import annotations

import json
from collections import deque

import numpy as np
import pytest
from cli_runner import run_cli
from core_strategies import CORE
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_bad_input import assert_one_line_error
from test_generation import gen_docs

from splittui.costs import breakdown
from splittui.errors import SplittuiError
from splittui.generation import phase_costs, request_costs, request_times
from splittui.model import Scenario
from splittui.profiles import profile_from_doc
from splittui.sim import SimConfig, fifo_starts, parse_token_dist, simulate
from splittui.sim.lengths import interp_at, series_sum
from splittui.sweep import SweepConfig, run_sweep
from splittui.sweep_sim import sim_cells

FEW = settings(CORE, max_examples=25)


# ----- the two-resource FIFO against an event-by-event simulation --------------------------------

def event_simulation(arrival, duration, demand, memory):
    """Jump from event to event (an arrival or an end); at each, free what ended, queue what arrived,
    then start queue heads while both resources suffice. Capacity 1 of each."""
    n = len(arrival)
    starts = [None] * n
    queue: deque[int] = deque()
    running: list[tuple[float, int]] = []
    free, mfree, nxt = 1.0, 1.0, 0
    t = arrival[0] if n else 0.0
    while nxt < n or queue or running:
        while True:
            for end, j in [r for r in running if r[0] <= t]:
                running.remove((end, j))
                free += demand[j]
                mfree += memory[j]
            while nxt < n and arrival[nxt] <= t:
                if demand[nxt] == 0 and memory[nxt] == 0:
                    starts[nxt] = arrival[nxt]
                else:
                    queue.append(nxt)
                nxt += 1
            started = False
            while queue and demand[queue[0]] <= free and memory[queue[0]] <= mfree:
                j = queue.popleft()
                starts[j] = t
                free -= demand[j]
                mfree -= memory[j]
                running.append((t + duration[j], j))
                started = True
            if not started:
                break
        events = [e for e, _ in running if e > t] + ([arrival[nxt]] if nxt < n else [])
        if not events:
            break
        t = min(events)
    return np.array(starts, dtype=float)


@settings(CORE, max_examples=80)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 8), st.integers(0, 8), st.integers(0, 8)),
                min_size=1, max_size=25))
def test_two_resources_match_the_event_simulation(jobs):
    gaps, durs, q, m = zip(*jobs, strict=True)
    arrival = np.cumsum(gaps).astype(float)
    duration = np.array(durs, dtype=float)
    demand, memory = np.array(q) / 8.0, np.array(m) / 8.0   # binary fractions: sums are exact
    got = fifo_starts(arrival, duration, demand, 1.0, memory=memory, mem_capacity=1.0)
    np.testing.assert_array_equal(got, event_simulation(arrival, duration, demand, memory))


def test_memory_alone_can_block():
    # plenty of FLOP capacity, memory for one request at a time
    starts = fifo_starts([0.0, 0.0, 1.0], [4.0, 4.0, 1.0], [0.1, 0.1, 0.0], 1.0,
                         memory=[1.0, 1.0, 0.5], mem_capacity=1.0)
    np.testing.assert_array_equal(starts, [0.0, 4.0, 8.0])


def test_a_request_larger_than_the_memory_is_an_error():
    with pytest.raises(SplittuiError, match="memory"):
        fifo_starts([0.0], [1.0], [0.5], 1.0, memory=[3.0], mem_capacity=2.0)


# ----- sums over contexts -------------------------------------------------------------------------

@CORE
@given(lens=st.lists(st.sets(st.integers(1, 60), min_size=1, max_size=5), min_size=1, max_size=4), data=st.data())
def test_series_sum_and_interp_match_a_direct_sum(lens, data):
    width = max(len(k) for k in lens)
    knots, values, first, count, direct, at = [], [], [], [], [], []
    for ks in lens:
        k = sorted(ks)
        v = data.draw(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=len(k), max_size=len(k)))
        f = data.draw(st.integers(k[0], k[-1]))
        c = data.draw(st.integers(0, k[-1] - f + 1))
        knots.append(k + [k[-1]] * (width - len(k)))
        values.append(v + [v[-1]] * (width - len(v)))
        first.append(f)
        count.append(c)
        direct.append(sum(np.interp(x, k, v) for x in range(f, f + c)))
        at.append(np.interp(f, k, v))
    got = series_sum(np.array(knots), np.array(values), np.array(first), np.array(count))
    np.testing.assert_allclose(got, direct, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(interp_at(np.array(knots), np.array(values), np.array(first)), at,
                               rtol=1e-12, atol=1e-9)


# ----- per-length costs against the composite chain of that length ---------------------------------

def _sweep_cells(doc, plan: int):
    prof = profile_from_doc(doc)
    lo, hi = prof.seq_range
    cfg = SweepConfig(bandwidths=(1.0, 8.0), resolution=40, max_steps=4, exact=False, gen_tokens=plan,
                      seq_lens=(lo,))
    sw = run_sweep(prof, cfg)
    return prof, cfg, sw, sim_cells([sw], profiles=[prof], decode=True)


@FEW
@given(doc=gen_docs(max_layers=5), data=st.data())
def test_length_costs_equal_the_request_at_that_length(doc, data):
    lo, hi = profile_from_doc(doc).seq_range
    plan = data.draw(st.integers(0, hi - lo + 2))   # SPEC §8: N tokens reach context s + N − 2
    try:
        prof, cfg, sw, cells = _sweep_cells(doc, plan)
    except SplittuiError as exc:   # a chain whose every policy takes 0 ms has no deadline series
        assume("0 ms" in str(exc) and False)
    ok = np.flatnonzero(np.all([np.isfinite(sw.share(m)) for m in ("dp", "greedy", "no-split")], axis=0))
    for m in ("dp", "greedy", "no-split"):
        lc = cells.lengths[m]
        for row, i in enumerate(ok):
            x = sw.policy(m)[i]
            sc = Scenario(deadline_ms=float(sw.deadline_ms[i]), up_mbps=float(sw.bandwidth[i]), delay_ms=cfg.delay_ms,
                          seq_len=int(sw.seq[i]), gen_tokens=plan)
            # the stored placement is the one the sweep reports
            assert breakdown(request_costs(prof, sc), x).total_ms == pytest.approx(sw.latency(m)[i], rel=1e-12)
            n = data.draw(st.integers(1, max(1, int(lc.max_tokens[row]))))   # a decoding request: N >= 1
            at = sc.replace(gen_tokens=n)
            want = request_times(phase_costs(prof, at), x)
            got = lc.costs(np.array([row]), np.array([n]))
            load = float(request_costs(prof, at).reward[x == 0].sum())
            assert got.latency_ms[0] == pytest.approx(want.latency_ms, rel=1e-9, abs=1e-9)
            assert got.load[0] == pytest.approx(load, rel=1e-9, abs=1e-6)
            assert got.weight_bytes[0] + got.kv_bytes[0] == pytest.approx(want.server_mem_bytes, rel=1e-9, abs=1e-6)


# ----- the simulation -----------------------------------------------------------------------------

def _tiny_gen_doc():
    """A fixed 4-layer generating model (lengths 8..32) with weights and a KV cache on the attention layers."""
    rng = np.random.default_rng(7)
    lens = [8, 16, 32]
    layers = []
    for i in range(4):
        layers.append({"name": f"l{i}", "kind": "attention" if i % 2 else "linear",
                       "flops": sorted(rng.uniform(1e5, 1e6, 3).tolist()), "client_ms": sorted(rng.uniform(50, 200, 3)),
                       "server_ms": sorted(rng.uniform(0.1, 2, 3)), "in_bytes": [4000.0] * 3,
                       "dec_flops": sorted(rng.uniform(1e3, 1e4, 3)), "dec_client_ms": sorted(rng.uniform(5, 20, 3)),
                       "dec_server_ms": sorted(rng.uniform(0.01, 0.2, 3)), "dec_in_bytes": [200.0] * 3,
                       "weight_bytes": [1e6] * 3, "kv_bytes": [2e3 * (i % 2)] * 3})
    doc = {"schema": "splittui.profile/1", "model": "tiny-gen", "source": {"kind": "synthetic"}, "seq_lens": lens,
           "output_bytes": [800.0] * 3, "dec_output_bytes": [8.0] * 3,
           "layers": [{k: [float(v) for v in val] if isinstance(val, list) else val for k, val in layer.items()}
                      for layer in layers]}
    return doc


def _cells(plan: int = 8):
    doc = _tiny_gen_doc()
    prof = profile_from_doc(doc)
    sw = run_sweep(prof, SweepConfig(bandwidths=(1.0, 10.0), resolution=50, exact=False, gen_tokens=plan,
                                     seq_lens=(8, 16)))
    return doc, sim_cells([sw], profiles=[prof], decode=True)


def test_fixed_length_at_the_plan_is_the_plain_stream():
    _, cells = _cells(plan=8)
    base = simulate(cells, SimConfig(requests=3000, concurrency=5, seed=1))
    # the same arrival rate (with a distribution, --load's rule averages the drawn requests instead)
    same = simulate(cells, SimConfig(requests=3000, concurrency=5, seed=1, rate=base.rate_per_s,
                                     tokens=parse_token_dist("fixed:8")))
    assert same.mean_tokens == 8 and same.capped == 0
    for m in base.stats:
        a, b = base.stats[m], same.stats[m]
        assert b.mean_wait_s == pytest.approx(a.mean_wait_s, rel=1e-6, abs=1e-9)
        assert b.served == a.served


def test_a_huge_memory_changes_nothing_and_a_small_one_binds():
    _, cells = _cells()
    dist = parse_token_dist("geometric:6")
    free = simulate(cells, SimConfig(requests=3000, concurrency=50, seed=2, tokens=dist))
    big = simulate(cells, SimConfig(requests=3000, concurrency=50, seed=2, tokens=dist, server_mem_gb=1e3))
    for m in free.stats:
        np.testing.assert_array_equal(big.stats[m].curve_cum_wait_s, free.stats[m].curve_cum_wait_s)
        assert big.stats[m].binding == "flops" and free.stats[m].mem_limit == float("inf")
    resident = max(cells.resident_bytes.values())
    tight = simulate(cells, SimConfig(requests=3000, concurrency=50, seed=2, tokens=dist,
                                      server_mem_gb=(resident + 2e5) / 1e9))
    assert any(s.binding == "memory" for s in tight.stats.values())
    for m, s in tight.stats.items():
        assert s.mem_limit < big.stats[m].mem_limit and s.flops_limit == pytest.approx(big.stats[m].flops_limit)
        assert s.resident_bytes == cells.resident_bytes[m] and 0 <= s.mem_utilisation <= 1 + 1e-9


def test_per_request_weights_hold_more():
    _, cells = _cells()
    cfg = {"requests": 1000, "concurrency": 50, "tokens": parse_token_dist("uniform:0-8"), "server_mem_gb": 1.0}
    shared = simulate(cells, SimConfig(**cfg))
    each = simulate(cells, SimConfig(**cfg, weights="per-request"))
    for m in shared.stats:
        assert each.stats[m].mean_mem_bytes >= shared.stats[m].mean_mem_bytes
        assert each.stats[m].resident_bytes == 0


def test_lengths_beyond_the_profile_are_capped_and_counted():
    _, cells = _cells()
    res = simulate(cells, SimConfig(requests=500, concurrency=5, tokens=parse_token_dist("fixed:1000")))
    assert res.capped == 500 and res.mean_tokens <= 32


@pytest.mark.parametrize("text, mean", [("fixed:5", 5), ("uniform:2-10", 6), ("geometric:40", 40)])
def test_distributions(text, mean):
    d = parse_token_dist(text)
    x = d.sample(np.random.default_rng(0), 200_000)
    assert d.mean == mean and x.min() >= (1 if d.kind == "geometric" else 0)
    assert x.mean() == pytest.approx(mean, rel=0.02)
    if d.kind == "uniform":
        assert x.min() == 2 and x.max() == 10


@pytest.mark.parametrize("text", ["geometric", "geometric:0.5", "fixed:-1", "fixed:2.5", "uniform:5-2", "uniform:3",
                                  "poisson:4", "geometric:inf", "fixed:x", ""])
def test_bad_distributions(text):
    with pytest.raises(SplittuiError, match="--gen-tokens-dist"):
        parse_token_dist(text)


# ----- the command --------------------------------------------------------------------------------

def test_simulate_command_with_lengths_and_memory(tmp_path, capsys):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(_tiny_gen_doc()))
    out = tmp_path / "sim.json"
    argv = ["simulate", "--profile", path, "--bandwidths", "1,10", "--resolution", "50", "--requests", "2000",
            "--concurrency", "50", "--gen-tokens-dist", "geometric:6", "--server-mem-gb", "0.01", "--no-charts",
            "--json", out]
    rc, text, _ = run_cli(argv, capsys)
    assert rc == 0 and "binds" in text and "geometric:6" in text
    doc = json.loads(out.read_text())
    assert doc["config"]["tokens"] == "geometric:6" and doc["plan_tokens"] == 6
    assert doc["server_mem_bytes"] == pytest.approx(1e7)
    assert {r["binding"] for r in doc["methods"].values()} <= {"flops", "memory"}


@pytest.mark.parametrize("extra, needle", [
    (["--gen-tokens-dist", "geometric:0"], "--gen-tokens-dist"),
    (["--server-mem-gb", "0"], "--server-mem-gb"),
    (["--server-mem-gb", "0.000001"], "no room"),
    (["--weights", "both"], "--weights"),
])
def test_bad_simulate_memory_flags(extra, needle, tmp_path, capsys):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(_tiny_gen_doc()))
    argv = ["simulate", "--profile", path, "--bandwidths", "1", "--resolution", "20", "--requests", "50",
            "--no-charts", *extra]
    assert_one_line_error(*run_cli(argv, capsys), needle)


def test_memory_needs_the_profile_fields(tmp_path, capsys):
    doc = _tiny_gen_doc()
    for layer in doc["layers"]:
        del layer["weight_bytes"], layer["kv_bytes"]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    argv = ["simulate", "--profile", path, "--bandwidths", "1", "--resolution", "20", "--requests", "50",
            "--no-charts", "--server-mem-gb", "1"]
    assert_one_line_error(*run_cli(argv, capsys), "weight_bytes")

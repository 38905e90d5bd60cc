"""splittui.sim: exact FIFO waits on hand-checkable traces, agreement with a slow reference queue,
determinism by seed, the rate/β/load mapping, and the `splittui simulate` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from splittui.cli import main
from splittui.errors import SplittuiError
from splittui.sim import Cells, SimConfig, fifo_starts, simulate


def test_three_requests_capacity_for_one():
    starts = fifo_starts([0.0, 1.0, 2.0], [10.0, 10.0, 10.0], [5.0, 5.0, 5.0], capacity=5.0)
    np.testing.assert_array_equal(starts - [0.0, 1.0, 2.0], [0.0, 9.0, 18.0])


def test_head_of_line_blocking_and_sharing():
    # two halves run together; the full-size third waits for both; the small fourth waits behind
    # it (FIFO) although half the server is free from t=5 to t=10
    arrival, duration, demand = [0.0, 0.0, 1.0, 2.0], [5.0, 10.0, 1.0, 1.0], [0.5, 0.5, 1.0, 0.5]
    starts = fifo_starts(arrival, duration, demand, capacity=1.0)
    np.testing.assert_array_equal(starts, [0.0, 0.0, 10.0, 11.0])


def test_zero_demand_never_waits():
    starts = fifo_starts([0.0, 1.0, 2.0], [10.0, 10.0, 10.0], [1.0, 1.0, 0.0], capacity=1.0)
    np.testing.assert_array_equal(starts, [0.0, 10.0, 2.0])


def test_a_request_larger_than_the_server_is_an_error():
    with pytest.raises(SplittuiError, match="capacity"):
        fifo_starts([0.0], [1.0], [2.0], capacity=1.0)


def reference_starts(arrival, duration, demand, capacity):
    """O(n^2) restatement of the rule: the earliest t >= max(arrival, previous start) (or the
    arrival, for zero demand) among the arrival and running jobs' ends where the jobs running at t
    leave room."""
    starts, prev = [], -np.inf
    for i, (a, _, q) in enumerate(zip(arrival, duration, demand, strict=True)):
        if q == 0:
            starts.append(a)
            continue
        t0 = max(a, prev)
        candidates = sorted({t0} | {starts[j] + duration[j] for j in range(i) if starts[j] + duration[j] > t0})
        for t in candidates:
            used = sum(demand[j] for j in range(i) if starts[j] <= t < starts[j] + duration[j])
            if used + q <= capacity:
                break
        starts.append(t)
        prev = t
    return np.array(starts)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 8), st.integers(0, 8)), min_size=1, max_size=25))
def test_event_loop_matches_the_reference(jobs):
    gaps, durs, eighths = zip(*jobs, strict=False)
    arrival = np.cumsum(gaps).astype(float)
    duration = np.array(durs, dtype=float)
    demand = np.array(eighths, dtype=float) / 8.0   # binary fractions: sums are exact
    got = fifo_starts(arrival, duration, demand, capacity=1.0)
    np.testing.assert_array_equal(got, reference_starts(arrival, duration, demand, 1.0))


def cells_fixture(n: int = 40, seed: int = 0) -> Cells:
    rng = np.random.default_rng(seed)
    deadline = rng.uniform(100, 2000, n)
    ns = rng.uniform(1e9, 5e9, n)
    greedy = ns * rng.uniform(0.5, 1.0, n)
    dp = greedy * rng.uniform(0.7, 1.0, n)
    lat = {m: deadline * rng.uniform(0.5, 1.0, n) for m in ("dp", "greedy", "no-split")}
    return Cells(deadline_ms=deadline, server_load={"dp": dp, "greedy": greedy, "no-split": ns}, latency_ms=lat)


def test_same_seed_same_result_and_another_seed_differs():
    cells = cells_fixture()
    a = simulate(cells, SimConfig(requests=3000, seed=4, concurrency=20))
    b = simulate(cells, SimConfig(requests=3000, seed=4, concurrency=20))
    c = simulate(cells, SimConfig(requests=3000, seed=5, concurrency=20))
    for m in a.stats:
        assert a.stats[m].row() == b.stats[m].row()
        np.testing.assert_array_equal(a.stats[m].curve_cum_wait_s, b.stats[m].curve_cum_wait_s)
    assert a.horizon_s != c.horizon_s


def test_rate_beta_and_load_mapping():
    cells = cells_fixture()
    r = simulate(cells, SimConfig(requests=500, beta=0.25))
    assert r.rate_per_s == pytest.approx(4.0) and r.beta_s == pytest.approx(0.25)
    r = simulate(cells, SimConfig(requests=500, rate=7.0))
    assert r.beta_s == pytest.approx(1 / 7.0)
    r = simulate(cells, SimConfig(requests=40_000, load=0.8, concurrency=50))
    assert r.stats["no-split"].offered_load == pytest.approx(0.8, rel=0.05)
    expected = 50 * np.mean(cells.server_load["no-split"] / (cells.deadline_ms / 1e3))
    assert r.capacity == pytest.approx(expected)


def test_stats_are_consistent():
    r = simulate(cells_fixture(), SimConfig(requests=5000, load=1.1, concurrency=10, service="latency"))
    for s in r.stats.values():
        assert 0 <= s.p50_wait_s <= s.p95_wait_s <= s.p99_wait_s <= s.max_wait_s
        assert 0 <= s.served <= 5000 and 0 <= s.utilisation <= 1 + 1e-9
        assert np.all(np.diff(s.curve_cum_wait_s) >= 0)
        assert s.throughput_per_s == pytest.approx(s.served / r.horizon_s)
    # less server work per request cannot make the same stream wait longer here
    assert r.stats["dp"].mean_wait_s <= r.stats["no-split"].mean_wait_s


def test_simulate_command_outputs(tmp_path, capsys):
    from test_sweep import synthetic_doc

    path = tmp_path / "p.json"
    path.write_text(json.dumps(synthetic_doc(np.random.default_rng(2), 5)))
    out = tmp_path / "sim.json"
    argv = ["simulate", "--profile", str(path), "--bandwidths", "1,10", "--resolution", "50",
            "--requests", "2000", "--seed", "3", "--json", str(out), "--csv", str(tmp_path / "sim.csv")]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "no-split" in text and "served" in text
    data = json.loads(out.read_text())
    assert set(data["methods"]) == {"dp", "greedy", "no-split"}
    assert main(argv) == 2


def exit_status(argv) -> int:
    """main's return value, or argparse's exit status for a flag it rejects."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def test_bad_simulate_flags_are_one_line_and_status_2(tmp_path, capsys):
    for argv in (["--seed", "-1"], ["--seed", "x"], ["--requests", "0"], ["--rate", "0"],
                 ["--model", "nope"], ["--csv", str(tmp_path / "missing" / "a.csv")]):
        assert exit_status(["simulate", "--no-charts", *argv]) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert err and "Traceback" not in "\n".join(err) and err[-1].startswith("splittui"), (argv, err)


def test_request_count_has_an_upper_bound(capsys):
    assert exit_status(["simulate", "--requests", "1000000000"]) == 2
    assert "at most" in capsys.readouterr().err

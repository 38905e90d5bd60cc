"""Chains of tiers (SPEC §11, issue 28): exact vs brute force vs a MILP oracle on random 3- and 4-tier
chains; the DP exact on integer times and feasible always; K = 2 reproduces the two-tier solvers bit for bit."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, milp

from splittui.errors import SplittuiError
from splittui.llm import load_any
from splittui.model import Scenario
from splittui.profiles import load_profile
from splittui.solvers import solve, solve_all
from splittui.solvers.tiers import (
    TierResult,
    solve_tiers,
    tier_brute_force,
    tier_dp,
    tier_exact,
    tier_exact_limits,
    tier_front,
)
from splittui.tiers import Hop, Tier, TierCosts, TierPhases, Topology, score, tier_min_latency, tier_phases

FEW = settings(max_examples=25)


@st.composite
def chains(draw, k_min: int = 3, k_max: int = 4, integer: bool = False, pins: bool = False) -> TierCosts:
    """A random K-tier chain of 1..6 layers (K = 4: up to 5), times whole ms when `integer`, else on a 1 us grid
    (as the deadline's offset): a latency within 1e-6 of the deadline is one the MILP's feasibility tolerance
    accepts and the exact solvers (1e-9) refuse, which CI once drew (a time of 1.19e-7 against a 0 deadline)."""
    k = draw(st.integers(k_min, k_max))
    n = draw(st.integers(1, 6 if k == 3 else 5))
    num = st.integers(0, 40).map(float) if integer else st.floats(0.0, 40.0, allow_nan=False).map(lambda v: round(v, 3))
    def arr(*shape: int) -> np.ndarray:
        size = math.prod(shape)
        return np.array(draw(st.lists(num, min_size=size, max_size=size))).reshape(shape)
    reward = np.array(draw(st.lists(st.floats(0.0, 10.0), min_size=n, max_size=n)))
    time_ = arr(k, n)
    pin = None
    if pins and draw(st.booleans()):
        pin = np.array(draw(st.lists(st.integers(-1, k - 1), min_size=n, max_size=n)), dtype=np.int64)
    c = TierCosts(time=time_, up=arr(k - 1, n), down=arr(k - 1, n), up_out=arr(k - 1), down_out=arr(k - 1),
                  reward=np.tile(reward, (k, 1)), weights=np.arange(k, dtype=np.float64),
                  start=draw(st.integers(0, k - 1)), end=draw(st.integers(0, k - 1)), deadline_ms=0.0, pin=pin)
    lo = tier_min_latency(c)
    if not math.isfinite(lo):
        lo = 0.0
    offset = round(draw(st.floats(-5.0, 120.0)), 3)
    return TierCosts(**{**{f: getattr(c, f) for f in c.__slots__}, "deadline_ms": lo + offset})


def _phases(c: TierCosts) -> TierPhases:
    return TierPhases(prefill=c, decode=None, steps=0)


def _best(c: TierCosts, x) -> float | None:
    return None if x is None else score(c, x).objective


def milp_optimum(c: TierCosts) -> float | None:
    """The least objective by scipy's MILP: y[l,k] (layer l on tier k), z[l,i,j] (move i -> j before layer l,
    l = L: the answer's move), flow conservation, latency <= deadline. None when infeasible."""
    k, n = c.k, c.n
    trans, out = c.transfer(), c.out_transfer()
    ny, nz = n * k, (n + 1) * k * k
    yi = lambda li, t: li * k + t  # noqa: E731
    zi = lambda li, i, j: ny + (li * k + i) * k + j  # noqa: E731
    obj = np.zeros(ny + nz)
    lat = np.zeros(ny + nz)
    for li in range(n):
        for t in range(k):
            obj[yi(li, t)], lat[yi(li, t)] = c.cost[t, li], c.time[t, li]
    for li in range(n + 1):
        for i in range(k):
            for j in range(k):
                lat[zi(li, i, j)] = out[i, j] if li == n else trans[i, j, li]
    rows, lo, hi = [lat], [-np.inf], [c.deadline_ms + 1e-9 * max(1.0, c.deadline_ms)]

    def eq(row: np.ndarray, value: float) -> None:
        rows.append(row)
        lo.append(value)
        hi.append(value)

    for li in range(n + 1):
        for i in range(k):   # leaving tier i before layer l: what layer l-1 (or the start) put there
            row = np.zeros(ny + nz)
            row[[zi(li, i, j) for j in range(k)]] = 1
            if li == 0:
                eq(row, float(i == c.start))
            else:
                row[yi(li - 1, i)] = -1
                eq(row, 0.0)
        for j in range(k):   # arriving at tier j: layer l runs there (or the answer ends there)
            row = np.zeros(ny + nz)
            row[[zi(li, i, j) for i in range(k)]] = 1
            if li == n:
                eq(row, float(j == c.end))
            else:
                row[yi(li, j)] = -1
                eq(row, 0.0)
    ub = np.ones(ny + nz)
    lb = np.zeros(ny + nz)
    if c.pin is not None:
        for li in range(n):
            if c.pin[li] >= 0:
                ub[[yi(li, t) for t in range(k) if t != c.pin[li]]] = 0
    res = milp(obj, constraints=LinearConstraint(np.array(rows), lo, hi), integrality=np.ones(ny + nz),
               bounds=Bounds(lb, ub), options={"mip_rel_gap": 0.0})
    return float(res.fun) if res.status == 0 else None


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))


@FEW
@given(chains(pins=True))
def test_exact_equals_brute_force(c: TierCosts) -> None:
    x, y = tier_exact(c), tier_brute_force(_phases(c))
    assert _close(_best(c, x), _best(c, y))
    if x is not None:
        assert score(c, x).latency_ms <= c.deadline_ms + 1e-9 * max(1.0, c.deadline_ms)


def _all_points(c: TierCosts) -> list[tuple[float, float]]:
    """Every policy's (latency, objective), written out."""
    import itertools

    pts = []
    for x in itertools.product(range(c.k), repeat=c.n):
        if c.pin is not None and any(p >= 0 and v != p for v, p in zip(x, c.pin)):
            continue
        s = score(c, x)
        pts.append((s.latency_ms, s.objective))
    return pts


def _le(a: float, b: float) -> bool:
    """a <= b up to float noise (relative 1e-9: sums taken in another order; the chains' values sit on a 1e-3
    grid, so a real difference is far larger)."""
    return a <= b + 1e-9 * max(abs(a), abs(b))


@given(chains(pins=True))
def test_front_equals_brute_force(c: TierCosts) -> None:
    """issue 28 item 3: the frontier over tiers is every Pareto-optimal (latency, work) policy, exactly: each
    point is a real policy's figures that no policy beats in both, and every policy is matched or beaten by
    a point; the points are strictly faster-to-cheaper."""
    c = TierCosts(**{**{f: getattr(c, f) for f in c.__slots__}, "reward": np.round(c.reward, 3)})   # a 1e-3 grid
    got = tier_front(c)
    pts = _all_points(c)
    for t, o, x in got:
        s = score(c, x)
        assert _le(s.latency_ms, t) and _le(t, s.latency_ms) and _le(s.objective, o) and _le(o, s.objective)
        assert not any(bt < t and bo < o and not (_le(t, bt) or _le(o, bo)) for bt, bo in pts)
        assert not any((_le(bt, t) and bo < o and not _le(o, bo)) or (_le(bo, o) and bt < t and not _le(t, bt))
                       for bt, bo in pts)
    assert all(a[0] < b[0] and a[1] > b[1] for a, b in zip(got, got[1:]))
    for bt, bo in pts:
        assert any(_le(t, bt) and _le(o, bo) for t, o, _ in got)
    if got and math.isfinite(c.deadline_ms):   # the exact optimum at a deadline is the front's point in force
        inforce = [p for p in got if p[0] <= c.deadline_ms + 1e-9 * max(1.0, c.deadline_ms)]
        x = tier_exact(c)
        assert (x is None) == (not inforce)
        if x is not None:
            assert _le(score(c, x).objective, inforce[-1][1]) and _le(inforce[-1][1], score(c, x).objective)


def test_front_keeps_the_cheaper_of_two_points_as_fast_up_to_float_noise():
    """Found by hypothesis: two policies whose latencies are one sum taken in two orders (41.361 and
    41.361000000000004); the front kept both, the dearer one though the cheaper is as fast."""
    c = TierCosts(time=np.array([[0.0, 11.361, 0.0], [0.0, 2.861, 0.0], [0.0, 0.0, 0.0]]), up=np.zeros((2, 3)),
                  down=np.array([[0.0, 0.0, 8.5], [30.0, 0.0, 0.0]]), up_out=np.zeros(2), down_out=np.zeros(2),
                  reward=np.array([[0.0, 1.0, 0.0]] * 3), weights=np.array([0.0, 1.0, 2.0]), start=2, end=0,
                  deadline_ms=38.5, pin=np.array([0, -1, 0]))
    got = tier_front(c)
    assert [(round(t, 6), o, x) for t, o, x in got] == [(38.5, 2.0, (0, 2, 0)), (41.361, 0.0, (0, 0, 0))]


@FEW
@given(chains())
def test_exact_equals_milp(c: TierCosts) -> None:
    assert _close(_best(c, tier_exact(c)), milp_optimum(c))


@FEW
@given(chains(integer=True, pins=True))
def test_dp_is_exact_on_whole_units_and_always_feasible(c: TierCosts) -> None:
    x = tier_dp(c, 1.0)
    exact = tier_exact(c.__class__(**{**{f: getattr(c, f) for f in c.__slots__},
                                      "deadline_ms": math.floor(c.deadline_ms + 1e-9)}))
    assert _close(_best(c, x), _best(c, exact))
    if x is not None:
        assert score(c, x).latency_ms <= c.deadline_ms + 1e-9


@FEW
@given(chains(k_min=2, k_max=4), st.floats(0.5, 7.0))
def test_dp_feasible_and_no_better_than_exact(c: TierCosts, unit: float) -> None:
    x = tier_dp(c, unit)
    if x is not None:
        assert score(c, x).latency_ms <= c.deadline_ms + 1e-9 * max(1.0, c.deadline_ms)
        assert _best(c, x) >= _best(c, tier_exact(c)) - 1e-9 * max(1.0, _best(c, x))


@FEW
@given(chains(pins=True), chains(pins=True), st.floats(1.0, 200.0), st.floats(0.5, 40.0))
def test_exact_limits_equals_brute_force(p: TierCosts, d: TierCosts, ttft: float, tpot: float) -> None:
    if (p.k, p.n) != (d.k, d.n):
        d = p
    d = TierCosts(**{**{f: getattr(d, f) for f in d.__slots__}, "start": p.start, "end": p.end, "pin": p.pin})
    ph = TierPhases(prefill=p, decode=d, steps=4)
    ph = TierPhases(prefill=TierCosts(**{**{f: getattr(p, f) for f in p.__slots__},
                                         "deadline_ms": p.deadline_ms + d.deadline_ms}), decode=d, steps=4)
    x, y = tier_exact_limits(ph, ttft, tpot), tier_brute_force(ph, ttft, tpot)
    c = ph.composite()
    assert _close(_best(c, x), _best(c, y))


# --- two tiers are today's problem -------------------------------------------------------------------------

_TWO = Topology(tiers=(Tier("client"), Tier("server")), hops=(Hop(40.0, 80.0, 7.0),))


@pytest.mark.parametrize("name", ["gpt2-like", "bert-base", "transformer", "cmt-s"])
def test_two_tiers_reproduce_the_two_tier_solvers(name: str) -> None:
    profile = load_profile(name)
    sc = Scenario(deadline_ms=900.0, up_mbps=40.0, down_mbps=80.0, delay_ms=7.0, seq_len=profile.default_seq)
    want = solve_all(profile, sc, ("dp", "exact", "greedy", "single-split", "no-split"))
    got = solve_tiers([profile, profile], sc, _TWO, tuple(want))
    for solver, res in want.items():
        t = got[solver]
        assert (t.feasible, t.latency_ms, t.objective, t.total_work) == (res.feasible, res.latency_ms,
                                                                        res.server_load, res.total_load)
        assert t.tiers == (None if res.policy is None else tuple(1 - v for v in res.policy))
    # the generic engine on the same two tiers: the same costs, the same optimum
    ph = tier_phases([profile, profile], sc, _TWO)
    c = ph.composite()
    for solver, fn in (("exact", tier_exact), ("dp", lambda c: tier_dp(c, sc.unit_ms))):
        x, res = fn(c), solve(profile, sc, solver)
        assert (x is None) == (res.policy is None)
        assert _close(_best(c, x), res.server_load)


def test_two_tier_costs_are_the_two_tier_arrays() -> None:
    from splittui.generation import phase_costs

    profile = load_any("llama-3.1-8b", client_device="phone-soc", server_device="a100-80gb")
    sc = Scenario(deadline_ms=30000.0, up_mbps=40.0, down_mbps=80.0, delay_ms=7.0, seq_len=512, gen_tokens=16)
    c2, ct = phase_costs(profile, sc).composite(), tier_phases([profile, profile], sc, _TWO).composite()
    for a, b in ((c2.client_ms, ct.time[0]), (c2.server_ms, ct.time[1]), (c2.up_ms, ct.up[0]),
                 (c2.down_ms, ct.down[0]), (c2.reward, ct.reward[1])):
        assert np.array_equal(a, b)
    assert (c2.up_out_ms, c2.down_out_ms) == (ct.up_out[0], ct.down_out[0])


def test_three_tiers_on_llama_meet_the_deadline_and_agree() -> None:
    pe = load_any("llama-3.1-8b", client_device="phone-soc", server_device="jetson-orin", include_seq=[1024])
    pc = load_any("llama-3.1-8b", client_device="phone-soc", server_device="a100-80gb", include_seq=[1024])
    topo = Topology(tiers=(Tier("phone", "phone-soc"), Tier("edge", "jetson-orin"), Tier("cloud", "a100-80gb")),
                    hops=(Hop(50, 100, 5), Hop(200, 500, 20)))
    sc = Scenario(deadline_ms=60000.0, seq_len=1024, gen_tokens=256)
    out = solve_tiers([pe, pe, pc], sc, topo, ("dp", "exact", "no-split", "all-client"))
    dp, ex = out["dp"], out["exact"]
    assert isinstance(dp, TierResult) and dp.feasible and ex.feasible
    assert ex.objective <= dp.objective + 1e-9 * dp.objective
    assert ex.latency_ms <= 60000.0 and math.isclose(sum(ex.shares), 1.0)


@pytest.mark.parametrize("kwargs, words", [
    ({"tiers": (Tier("a"),), "hops": ()}, "1 tier"),
    ({"tiers": (Tier("a"), Tier("b"), Tier("c")), "hops": (Hop(1, 1, 1),)}, "need 2 hop"),
    ({"tiers": (Tier("a"), Tier("a")), "hops": (Hop(1, 1, 1),)}, "repeat"),
    ({"tiers": (Tier("a"), Tier("b")), "hops": (Hop(0, 1, 1),)}, "bandwidth"),
    ({"tiers": (Tier("a"), Tier("b")), "hops": (Hop(1, 1, -1),)}, "delay"),
    ({"tiers": (Tier("a"), Tier("b")), "hops": (Hop(1, 1, 1),), "end": 2}, "end tier"),
    ({"tiers": tuple(Tier(f"t{i}") for i in range(5)), "hops": (Hop(1, 1, 1),) * 4}, "5 tier"),
])
def test_bad_topology_is_one_error(kwargs, words) -> None:
    with pytest.raises(SplittuiError, match=words):
        Topology(**kwargs)


# --- per-tier memory (SPEC §10 over tiers) ------------------------------------------------------------------

@FEW
@given(chains(pins=True), st.data())
def test_memory_limits_exact_equals_brute_force(c: TierCosts, data) -> None:
    from splittui.memory import MemRows
    from splittui.solvers.tiers_memory import memory_tier_policy

    n = c.n
    gb = st.floats(0.0, 3.0).map(lambda v: v * 1e9)
    weights = np.array(data.draw(st.lists(gb, min_size=n, max_size=n)))
    act = np.array(data.draw(st.lists(st.floats(0.0, 0.5e9), min_size=n, max_size=n)))
    tied = (0, n - 1, float(min(weights[0], weights[-1]))) if n > 1 and data.draw(st.booleans()) else None
    limits = tuple(data.draw(st.one_of(st.none(), st.floats(2.5, 9.0).map(lambda v: v * 1e9))) for _ in range(c.k))
    rows = MemRows(weights=weights, kv=np.zeros(n), act=act, tied=tied, limit=(None, None))
    ph = TierPhases(prefill=c, decode=None, steps=0, mem=rows, mem_limits=limits)
    x, y = memory_tier_policy(ph), tier_brute_force(ph)
    assert _close(_best(c, x), _best(c, y))
    d = memory_tier_policy(ph, unit_ms=1.0)
    if d is not None:   # the DP's answer fits and meets the deadline
        assert not tier_brute_force.__globals__["_violations"](ph, d, score(c, d).latency_ms, None, None, "abcd")


# --- the command line ---------------------------------------------------------------------------------------

DONE_WHEN = ["solve", "--model", "llama-3.1-8b", "--tier", "phone=phone-soc", "--tier", "edge=jetson-orin",
             "--tier", "cloud=a100-80gb", "--hop", "50/100/5", "--hop", "200/500/20", "--seq", "1024",
             "--gen-tokens", "256", "--deadline-ms", "60000", "--solver", "all"]


def test_done_when_prints_strips_and_shares(capsys, monkeypatch) -> None:
    from cli_runner import run_cli

    monkeypatch.setenv("NO_COLOR", "1")
    rc, out, err = run_cli(DONE_WHEN, capsys)
    assert rc == 0, err
    assert "phone" in out and "cloud" in out and "share" in out
    assert "P phone" in out and "E edge" in out and "C cloud" in out
    assert any(line.strip().startswith("dp PPP") for line in out.splitlines())


def test_json_documents_carry_the_tiers(capsys) -> None:
    import json

    from cli_runner import run_cli

    rc, out, err = run_cli([*DONE_WHEN[:-2], "--solver", "exact", "--json"], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["schema"] == "splittui.policy/2" and doc["solver"] == "exact" and doc["feasible"]
    t = doc["tiers"]
    assert [x["name"] for x in t["tiers"]] == ["phone", "edge", "cloud"] and len(t["policy"]) == 259
    assert set(t["policy"]) <= {1, 2, 3} and len(t["strip"]) == 259 and math.isclose(sum(t["shares"]), 1.0)


def test_two_tiers_on_the_command_line_are_the_two_tier_documents(capsys) -> None:
    import json

    from cli_runner import run_cli

    base = ["solve", "--model", "gpt2-like", "--deadline-ms", "900", "--solver", "dp", "--json"]
    rc, out, _ = run_cli([*base, "--up-mbps", "40", "--down-mbps", "80", "--delay-ms", "7"], capsys)
    rc2, out2, _ = run_cli([*base, "--tier", "client", "--tier", "server", "--hop", "40/80/7"], capsys)
    a, b = json.loads(out), json.loads(out2)
    assert rc == rc2 == 0 and "tiers" not in a and b["tiers"]["policy"] == [2 - v for v in a["policy"]]
    for key in ("policy", "latency_ms", "server_load", "server_share", "feasible"):
        assert a[key] == b[key]


@pytest.mark.parametrize("argv, words", [
    (["--tier", "phone=phone-soc", "--tier", "edge=jetson-orin", "--hop", "50/100"], "UP/DOWN/DELAY"),
    (["--tier", "phone=phone-soc", "--tier", "edge=jetson-orin"], "need 1 hop"),
    (["--tier", "phone=phone-soc", "--tier", "edge=nosuchdevice", "--hop", "1/1/1"], "nosuchdevice"),
    (["--tier", "a=phone-soc", "--tier", "a=l4", "--hop", "1/1/1"], "repeat"),
    (["--tier", "a=phone-soc", "--tier", "b=l4", "--hop", "x/1/1"], "not a number"),
    (["--tier", "a=phone-soc", "--tier", "b=l4", "--hop", "1/1/1", "--client-device", "l4"], "--client-device"),
    (["--topology", "/nonexistent/topo.toml"], "--topology"),
])
def test_bad_topology_input_is_one_line_exit_2(capsys, argv, words) -> None:
    from cli_runner import run_cli

    rc, out, err = run_cli(["solve", "--model", "llama-3.1-8b", *argv], capsys)
    assert rc == 2 and words in err and len(err.strip().splitlines()) == 1, err


def test_topology_file(tmp_path, capsys) -> None:
    import json

    from cli_runner import run_cli

    f = tmp_path / "topo.toml"
    f.write_text('weights = [0, 1, 3]\nend = "edge"\n[[tier]]\nname = "phone"\ndevice = "phone-soc"\n'
                 '[[tier]]\nname = "edge"\ndevice = "jetson-orin"\n[[tier]]\nname = "cloud"\ndevice = "a100"\n'
                 '[[hop]]\nup_mbps = 50\ndown_mbps = 100\ndelay_ms = 5\n[[hop]]\nup_mbps = 200\n'
                 '[pins]\ncloud = "0"\n')
    rc, out, err = run_cli(["solve", "--model", "llama-3.1-8b", "--topology", f, "--seq", "512",
                            "--deadline-ms", "20000", "--solver", "exact", "--json"], capsys)
    assert rc == 0, err
    t = json.loads(out)["tiers"]
    assert t["end"] == "edge" and t["weights"] == [0, 1, 3] and t["policy"][0] == 3

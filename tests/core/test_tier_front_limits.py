"""The frontier over tiers under TTFT/TPOT limits (issue 28 item 3): `tier_front_limits` is the true Pareto front
of (request latency, weighted work) among the policies that meet the limits, checked against every policy of
random 3-tier chains; the DP's front gives `tier_dp`'s answer at every budget."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from splittui.solvers.tiers import tier_dp, tier_dp_front, tier_exact_limits, tier_front, tier_front_limits
from splittui.tiers import TierCosts, TierPhases, score, tier_min_latency

STEPS = 4


@st.composite
def requests(draw, k: int = 3) -> tuple[TierPhases, float, float]:
    """A random 3-tier request (prefill and the decode steps' sum over the same chain, 1..5 layers, values on
    a 1e-3 grid) and TTFT/TPOT limits drawn between the least and the largest value any policy gives, so that
    they bind more often than not."""
    n = draw(st.integers(1, 5))
    num = st.floats(0.0, 40.0, allow_nan=False).map(lambda v: round(v, 3))

    def arr(*shape: int) -> np.ndarray:
        return np.array(draw(st.lists(num, min_size=math.prod(shape), max_size=math.prod(shape)))).reshape(shape)

    reward = np.round(np.array(draw(st.lists(st.floats(0.0, 10.0), min_size=n, max_size=n))), 3)
    start, end = draw(st.integers(0, k - 1)), draw(st.integers(0, k - 1))
    pin = None
    if draw(st.booleans()):
        pin = np.array(draw(st.lists(st.integers(-1, k - 1), min_size=n, max_size=n)), dtype=np.int64)

    def chain(scale: float) -> TierCosts:
        return TierCosts(time=arr(k, n) * scale, up=arr(k - 1, n) * scale, down=arr(k - 1, n) * scale,
                         up_out=arr(k - 1) * scale, down_out=arr(k - 1) * scale, reward=np.tile(reward, (k, 1)),
                         weights=np.arange(k, dtype=np.float64), start=start, end=end, deadline_ms=math.inf, pin=pin)

    ph = TierPhases(prefill=chain(1.0), decode=chain(STEPS / 2), steps=STEPS)
    pts = _every_policy(ph)
    ttfts, tpots = sorted(p[2] for p in pts), sorted(p[3] for p in pts)
    ttft = ttfts[0] + draw(st.floats(0.0, 1.0)) * (ttfts[-1] - ttfts[0]) + 1e-3
    tpot = tpots[0] + draw(st.floats(0.0, 1.0)) * (tpots[-1] - tpots[0]) + 1e-3
    return ph, ttft, tpot


def _every_policy(ph: TierPhases) -> list[tuple[float, float, float, float, tuple[int, ...]]]:
    """(request latency, objective, TTFT, TPOT, policy) of every policy that respects the pins."""
    c = ph.composite()
    out = []
    for x in itertools.product(range(c.k), repeat=c.n):
        if c.pin is not None and any(p >= 0 and v != p for v, p in zip(x, c.pin, strict=True)):
            continue
        s = score(c, x)
        assert ph.decode is not None
        out.append((s.latency_ms, s.objective, score(ph.prefill, x).latency_ms,
                    score(ph.decode, x).latency_ms / ph.steps, x))
    return out


def _le(a: float, b: float) -> bool:
    """a <= b up to float noise (sums taken in another order; real differences sit on a 1e-3 grid)."""
    return a <= b + 1e-9 * max(1.0, abs(a), abs(b))


def _meets(p: tuple[float, float, float, float, tuple[int, ...]], ttft: float | None, tpot: float | None) -> bool:
    return (ttft is None or _le(p[2], ttft)) and (tpot is None or _le(p[3], tpot))


def _check_front(got: list, ok: list) -> None:
    """`got` is exactly the Pareto front of the (latency, objective) points `ok`."""
    for t, o, _x in got:
        assert any(_le(bt, t) and _le(t, bt) and _le(bo, o) and _le(o, bo) for bt, bo, *_ in ok)
        assert not any(_le(bt, t) and _le(bo, o) and not (_le(t, bt) and _le(o, bo)) for bt, bo, *_ in ok)
    assert all(a[0] < b[0] and a[1] > b[1] for a, b in zip(got, got[1:]))
    for bt, bo, *_ in ok:
        assert any(_le(t, bt) and _le(o, bo) for t, o, _x in got)


@settings(max_examples=60, deadline=None)
@given(requests(), st.sampled_from(["both", "ttft", "tpot"]))
def test_front_under_limits_equals_brute_force(req, which) -> None:
    """Each point is a policy that meets the limits, with its own figures; no policy that meets them beats a
    point in both; every such policy is matched or beaten by a point (so ignoring the limits fails: a point
    would break one, or a point of the unlimited front would beat a limited policy it should not)."""
    ph, ttft, tpot = req
    ttft_l = ttft if which in ("both", "ttft") else None
    tpot_l = tpot if which in ("both", "tpot") else None
    pts = _every_policy(ph)
    ok = [p for p in pts if _meets(p, ttft_l, tpot_l)]
    got = tier_front_limits(ph, ttft_l, tpot_l)
    c = ph.composite()
    for t, o, x in got:
        s = score(c, x)
        assert _le(s.latency_ms, t) and _le(t, s.latency_ms) and _le(s.objective, o) and _le(o, s.objective)
        p = next(p for p in pts if p[4] == x)
        assert _meets(p, ttft_l, tpot_l), (p, ttft_l, tpot_l)
    _check_front(got, ok)
    assert (not got) == (not ok)


@settings(max_examples=40, deadline=None)
@given(requests(), st.floats(0.0, 1.0))
def test_front_point_in_force_is_the_exact_answer(req, where) -> None:
    """At a deadline, the front's point in force is `tier_exact_limits`' answer (the same least objective),
    and a front cut at that deadline (`limit`) is the front's points up to it."""
    ph, ttft, tpot = req
    full = tier_front_limits(ph, ttft, tpot)
    lo = tier_min_latency(ph.composite())
    hi = max((p[0] for p in full), default=lo)
    d = round(lo + where * (hi - lo + 5.0), 3)
    ph_d = TierPhases(prefill=TierCosts(**{**{f: getattr(ph.prefill, f) for f in ph.prefill.__slots__},
                                          "deadline_ms": d}), decode=ph.decode, steps=ph.steps)
    x = tier_exact_limits(ph_d, ttft, tpot)
    inforce = [p for p in full if _le(p[0], d)]
    assert (x is None) == (not inforce)
    if x is not None:
        o = score(ph.composite(), x).objective
        assert _le(o, inforce[-1][1]) and _le(inforce[-1][1], o)
    cut = tier_front_limits(ph, ttft, tpot, limit=d * (1 + 1e-9) + 1e-9)
    assert [p[2] for p in cut] == [p[2] for p in inforce]


@settings(max_examples=10, deadline=None)
@given(requests())
def test_no_limits_is_the_plain_front(req) -> None:
    ph, _, _ = req
    assert tier_front_limits(ph, None, None) == tier_front(ph.composite())


@settings(max_examples=40, deadline=None)
@given(requests(), st.floats(0.5, 7.0), st.lists(st.floats(0.0, 1.0), min_size=1, max_size=5))
def test_dp_front_gives_the_dp_at_every_budget(req, unit, where) -> None:
    """The DP's front from one pass at the loosest deadline answers every tighter one as `tier_dp` does."""
    ph, _, _ = req
    c = ph.composite()
    lo, hi = tier_min_latency(c), tier_min_latency(c) * 3 + 20
    deadlines = sorted((lo + w * (hi - lo) for w in where), reverse=True)
    loose = TierCosts(**{**{f: getattr(c, f) for f in c.__slots__}, "deadline_ms": deadlines[0]})
    front = tier_dp_front(loose, unit)
    for d in deadlines:
        w = math.floor(d / unit + 1e-9)
        inforce = [p for p in front if p[0] <= w]
        x = tier_dp(TierCosts(**{**{f: getattr(c, f) for f in c.__slots__}, "deadline_ms": d}), unit)
        assert (x is None) == (not inforce)
        if x is not None:
            o = score(c, x).objective
            assert _le(o, inforce[-1][1]) and _le(inforce[-1][1], o)


TIERS = ("--model", "llama-3.2-1b", "--tier", "phone=phone-soc", "--tier", "edge=jetson-orin", "--tier",
         "cloud=a100-80gb", "--hop", "50/100/5", "--hop", "200/500/20", "--seq", "512", "--gen-tokens", "64",
         "--deadline-ms", "4000")


def test_frontier_command_takes_the_limits(capsys) -> None:
    """`frontier --tier ... --ttft-ms/--tpot-ms`: every point meets the limits, the front is strictly faster to
    cheaper, the unlimited front holds a point that breaks them, and the row in force at --deadline-ms is
    `solve --solver exact`'s answer under the same limits."""
    import json

    from cli_runner import run_cli

    limits = ("--ttft-ms", "400", "--tpot-ms", "35")
    rc, out, err = run_cli(["frontier", *TIERS, *limits, "--json"], capsys)
    assert rc == 0, err
    pts = json.loads(out)["points"]
    at = json.loads(out)["at_deadline"]
    assert pts and all(p["meets_limits"] and p["ttft_ms"] <= 400 and p["tpot_ms"] <= 35 for p in pts)
    assert all(a["deadline_ms"] < b["deadline_ms"] and a["objective"] > b["objective"] for a, b in zip(pts, pts[1:]))
    free = json.loads(run_cli(["frontier", *TIERS, "--json"], capsys)[1])["points"]
    assert any(p["ttft_ms"] > 400 or p["tpot_ms"] > 35 for p in free)
    rc, out, err = run_cli(["solve", *TIERS, *limits, "--solver", "exact", "--json"], capsys)
    solved = json.loads(out)
    assert solved["feasible"] and at is not None
    assert pts[at]["objective"] == pytest.approx(solved["tiers"]["objective"], rel=1e-12)
    rc, out, err = run_cli(["frontier", *TIERS, *limits], capsys)
    assert rc == 0 and "TTFT ≤ 400 ms · TPOT ≤ 35 ms" in out and "meet the TTFT/TPOT limits" in out

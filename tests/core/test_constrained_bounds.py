"""The constrained pass under a binding client memory limit (SPEC §10): the rest's bounds hold, the grouped
dominance filter keeps what the pairwise one keeps, and exact / dp with the beam floor stay optimal (brute
force), whatever the beam's width."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_memory import limit_for, meets, reward

from splittui.costs import Costs
from splittui.memory import MemRows
from splittui.solvers import constrained
from splittui.solvers.constrained import (
    _cases,
    _Chain,
    _rest_bounds,
    constrained_brute_force,
    constrained_dp,
    constrained_exact,
)
from splittui.solvers.constrained_fronts import _front, _front_groups


@st.composite
def binding_chains(draw, max_n: int = 8):
    """Chains whose client limit binds (below the bytes of every layer on the client), with pins often."""
    n = draw(st.integers(2, max_n))
    f = st.floats(0.0, 50.0, allow_nan=False)
    arr = lambda: np.array(draw(st.lists(f, min_size=n, max_size=n)))  # noqa: E731
    c = Costs(client_ms=arr(), server_ms=arr(), up_ms=arr(), down_ms=arr(), reward=arr(),
              up_out_ms=draw(f), down_out_ms=draw(f), start_client=draw(st.booleans()),
              end_client=draw(st.booleans()), deadline_ms=draw(st.floats(1.0, 400.0)))
    # bytes in units of 10 MB: the limits clear the reserve's fixed part, so the budget is what is drawn
    held = np.array(draw(st.lists(st.integers(0, 100), min_size=n, max_size=n)), dtype=float) * 1e7
    act = np.array(draw(st.lists(st.integers(0, 20), min_size=n, max_size=n)), dtype=float) * 1e7
    whole = float(held.sum() + act.max())
    budget = whole * draw(st.floats(0.05, 0.95))
    limit = limit_for(budget)
    server = draw(st.one_of(st.none(), st.just(float(whole) * 4 + 2 ** 31)))
    mem = MemRows(weights=held, kv=np.zeros(n), act=act, tied=None, limit=(limit, server))
    pin = None
    if draw(st.booleans()):
        pin = np.array(draw(st.lists(st.sampled_from((-1, -1, 0, 1)), min_size=n, max_size=n)), dtype=np.int8)
    return replace(c, mem=mem, pin=pin)


@pytest.mark.parametrize("beam", [1, 2, 16])
@settings(max_examples=120, deadline=None)
@given(c=binding_chains())
def test_exact_and_dp_match_brute_force_under_a_binding_client_limit(c, beam):
    lims = (math.inf, math.inf, c.deadline_ms + 1e-9 * max(1.0, c.deadline_ms))
    want = constrained_brute_force(c, None, c, lims)
    saved, constrained.BEAM = constrained.BEAM, beam
    try:
        got = constrained_exact(c, None, c)
        dp = constrained_dp(c, 1.0)
    finally:
        constrained.BEAM = saved
    assert (got is None) == (want is None)
    if want is not None:
        assert meets(c, got)
        assert reward(c, got) == pytest.approx(reward(c, want), rel=1e-12, abs=1e-9)
    if dp is not None:
        assert meets(c, dp)   # the DP's integer-feasible policy meets the real limits
        if want is not None:
            assert reward(c, dp) <= reward(c, want) + 1e-9


def _prefix_label(c: Costs, x: tuple[int, ...], i: int) -> tuple[float, float, float, float]:
    """Latency, reward, client bytes held and client activation peak of layers 0..i of policy x."""
    ch = _Chain.of(c)
    t, prev = 0.0, 1 if c.start_client else 0
    for k in range(i + 1):
        if x[k] == 1:
            t += ch.client[k] + (ch.down[k] if prev == 0 else 0.0)
        else:
            t += ch.server[k] + (ch.up[k] if prev == 1 else 0.0)
        prev = x[k]
    on = np.array(x[: i + 1]) == 1
    held = c.mem.held[: i + 1]
    act = c.mem.act[: i + 1]
    return t, float(c.reward[: i + 1] @ on), float(held[on].sum()), float(act[on].max()) if on.any() else -math.inf


@settings(max_examples=150, deadline=None)
@given(binding_chains(max_n=7))
def test_rest_bounds_hold_for_every_prefix(c):
    """The bound of every prefix label is at least the reward of each feasible policy that starts with it."""
    case = _cases(c)[0]
    rest = _rest_bounds([_Chain.of(c)], c.reward, case, [c.deadline_ms + 1e-9 * max(1.0, c.deadline_ms)])
    if rest is None:
        return
    for x in itertools.product((0, 1), repeat=c.n):
        if not meets(c, x):
            continue
        total = reward(c, x)
        for i in range(c.n):
            t, r, h, a = _prefix_label(c, x, i)
            side = 0 if x[i] == 1 else 1
            ub = rest.at(i + 1, side, np.array([t]), np.array([r]), np.array([h]), np.array([a]))[0]
            assert ub >= total - 1e-9 * max(1.0, abs(total)), (x, i, ub, total)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_grouped_front_keeps_what_the_pairwise_front_keeps(data):
    """Two fronts shifted by one increment each (add rows added, the max row maxed with a value): the
    grouped filter keeps exactly the distinct labels the pairwise filter keeps."""
    rows = data.draw(st.integers(2, 4))
    vals = st.integers(0, 6).map(float)

    def group(k: int) -> np.ndarray:
        pts = np.array(data.draw(st.lists(st.lists(vals, min_size=rows, max_size=rows), min_size=0, max_size=k)),
                       dtype=float).reshape(-1, rows).T
        return pts[:, _front(pts)] if pts.shape[1] else pts

    a, b = group(12), group(12)
    inc_a = np.array([data.draw(vals) for _ in range(rows)])
    inc_b = np.array([data.draw(vals) for _ in range(rows)])
    Y = np.concatenate((a, b), axis=1)
    src = Y.copy()
    inc = np.concatenate((np.repeat(inc_a[:, None], a.shape[1], axis=1),
                          np.repeat(inc_b[:, None], b.shape[1], axis=1)), axis=1)
    Y[:-1] += inc[:-1]
    Y[-1] = np.maximum(Y[-1], inc[-1])            # the last row is a max row
    first = np.arange(Y.shape[1]) < a.shape[1]
    clamped = src[-1] < inc[-1]
    got = {tuple(Y[:, j]) for j in _front_groups(Y, first, clamped)}
    want = {tuple(Y[:, j]) for j in _front(Y)}
    assert got == want
    assert len(_front_groups(Y, first, clamped)) == len(want)   # one of equal labels stays

"""The pieces that make the constrained pass cheaper under a binding client limit (SPEC §10), each against
brute force: activation caps as cases, the vectorised Lagrangian dual, and the sorted-chunk dominance test."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_constrained_bounds import binding_chains

from splittui.costs import latency
from splittui.solvers import constrained_fronts
from splittui.solvers.constrained_case import _act_caps, _cases, _Chain, fits
from splittui.solvers.constrained_dual import _dual_chain, dual_values
from splittui.solvers.constrained_fronts import dominated3


def _policies(n: int):
    return (np.array(x, dtype=np.int8) for x in itertools.product((0, 1), repeat=n))


def _meets_pins(pin: np.ndarray, x: np.ndarray) -> bool:
    return not bool(((pin >= 0) & (pin != x)).any())


@settings(max_examples=150, deadline=None)
@given(binding_chains(max_n=7))
def test_activation_caps_partition_the_feasible_policies(c):
    """Every policy that fits is allowed by the case of its own activation peak, and every policy a case allows
    fits: the best over the cases is the optimum."""
    case = _cases(c)[0]
    caps = _act_caps(case)
    for x in _policies(c.n):
        if not _meets_pins(case.pin, x):
            continue
        allowed = [k for k, cc in enumerate(caps)
                   if _meets_pins(cc.pin, x) and float(cc.held[x == 1].sum()) <= cc.budget[0]]
        if fits(c.mem, x):
            assert allowed, x
        else:
            assert not allowed, x


@settings(max_examples=150, deadline=None)
@given(binding_chains(max_n=7), st.floats(0.0, 5.0), st.floats(0.0, 5.0))
def test_dual_values_match_the_policies_they_maximise_over(c, lam, mu):
    """f(λ, μ) is the best R − λ·T − μ·H over the policies the pins allow, plus λ·Λ + μ·B (brute force)."""
    case = _cases(c)[0]
    T, B = c.deadline_ms, case.budget[0]
    best = -math.inf
    for x in _policies(c.n):
        if _meets_pins(case.pin, x):
            best = max(best, float(c.reward @ x) - lam * latency(c, x) - mu * float(case.held @ x))
    got = dual_values(_dual_chain(_Chain.of(c), c.reward, case), np.array([lam]), np.array([mu]), T, B)[0]
    want = best + lam * T + mu * B
    assert got == pytest.approx(want, rel=1e-9, abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_sorted_chunks_find_the_dominated_labels_the_pairwise_test_finds(data):
    """With ties (small integers) and without, whatever the sizes and the chunking (forced on small inputs)."""
    vals = data.draw(st.sampled_from((st.integers(0, 4).map(float), st.floats(-10, 10, allow_nan=False))))
    nd, nb = data.draw(st.integers(0, 60)), data.draw(st.integers(0, 60))
    D = np.array(data.draw(st.lists(vals, min_size=3 * nd, max_size=3 * nd)), dtype=float).reshape(3, nd)
    by = np.array(data.draw(st.lists(vals, min_size=3 * nb, max_size=3 * nb)), dtype=float).reshape(3, nb)
    want = np.array([bool(nb) and bool(np.all(by <= D[:, [i]], axis=0).any()) for i in range(nd)], dtype=bool)
    saved, constrained_fronts.PAIRWISE_MAX = constrained_fronts.PAIRWISE_MAX, 0
    try:
        got = dominated3(D, by)
    finally:
        constrained_fronts.PAIRWISE_MAX = saved
    assert np.array_equal(got, want)


def test_a_policy_with_no_client_layer_fits_under_any_cap():
    """All on the server needs no client bytes: it must stay reachable when every activation exceeds the
    client budget (the cap 0 case)."""
    from dataclasses import replace

    from splittui.costs import Costs
    from splittui.memory import MemRows
    from splittui.solvers.constrained import constrained_exact

    z = np.zeros(2)
    c = Costs(client_ms=z, server_ms=z, up_ms=z, down_ms=z, reward=np.ones(2), up_out_ms=0.0, down_out_ms=0.0,
              start_client=False, end_client=False, deadline_ms=1.0)
    mem = MemRows(weights=z, kv=z, act=np.ones(2), tied=None, limit=(1.5555555555555554, None))
    assert constrained_exact(replace(c, mem=mem), None, replace(c, mem=mem)) == (0, 0)

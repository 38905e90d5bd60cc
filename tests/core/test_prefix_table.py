"""The pinned prefix table (greedy and single-split under pins, SPEC §10; the app's greedy line): every
prefix policy k = 0..L with the pinned layers on their sides, its latency and client reward, from one
array pass, equal SPEC §3's term-by-term latency (core_strategies.spec_latency, no splittui code)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from core_strategies import CORE, chains, spec_latency, spec_reward
from hypothesis import given
from hypothesis import strategies as st

from splittui.solvers.baselines import pinned_prefixes, prefix_table


@CORE
@given(chains(max_layers=9), st.data())
def test_every_pinned_prefix_has_the_spec_latency_and_reward(ch, data):
    c = ch.costs
    pin = np.array(data.draw(st.lists(st.integers(-1, 1), min_size=c.n, max_size=c.n)), dtype=np.int8)
    c = replace(c, pin=pin)
    lat, reward = prefix_table(c)
    X = pinned_prefixes(c)
    assert X.shape == (c.n + 1, c.n)
    for k in range(c.n + 1):
        want = [int(p) if p >= 0 else int(i < k) for i, p in enumerate(pin)]
        assert X[k].tolist() == want
        assert np.isclose(lat[k], spec_latency(c, want), rtol=1e-12, atol=1e-9), k
        assert np.isclose(reward[k], spec_reward(c, want), rtol=1e-12, atol=1e-9), k


def test_no_layer_and_no_pin_cases():
    """Without pins the O(L) table; every layer pinned: one policy L + 1 times."""
    from splittui.costs import Costs

    one = np.ones(3)
    c = Costs(one, 2 * one, 0.5 * one, 0.25 * one, one, 0.1, 0.2, True, True, 10.0)
    lat, reward = prefix_table(c)
    assert lat.tolist() == [spec_latency(c, [int(i < k) for i in range(3)]) for k in range(4)]
    pinned = replace(c, pin=np.array([0, 1, 0], dtype=np.int8))
    lat, reward = prefix_table(pinned)
    assert len(set(lat.tolist())) == 1 and reward.tolist() == [1.0] * 4

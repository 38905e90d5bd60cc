"""`DPSpan`: one DP pass filled beyond a deadline gives, for every deadline it covers, the policy and
the frontier values a fresh DP at that deadline gives (SPEC §4: cell (l, w) reads only budgets ≤ w),
and refuses to serve another chain, unit or rounding. The fresh DP is `dp_policy`/`dp_end_values`,
itself checked against brute force in test_solver_properties.py."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from core_strategies import CORE, chains
from hypothesis import given
from hypothesis import strategies as st

from splittui.solvers.dp_labels import SPARSE_MIN_UNITS, LabelTables, dp_end_values, dp_policy
from splittui.solvers.dp_span import dp_span


@CORE
@given(chains(), st.floats(1.0, 3.0), st.lists(st.floats(0.0, 1.0), min_size=1, max_size=6),
       st.sampled_from(("ceil", "round")))
def test_span_gives_the_fresh_dp_at_every_deadline_it_covers(ch, stretch, fractions, rounding):
    c, T = ch.costs, ch.unit_ms
    span = dp_span(c, T, c.deadline_ms * stretch, rounding=rounding)
    for f in fractions:
        at = replace(c, deadline_ms=c.deadline_ms * stretch * f)
        assert span.serves(at, T, rounding)
        assert span.policy(at.deadline_ms) == dp_policy(at, T, rounding=rounding)
        np.testing.assert_array_equal(span.end_values(at.deadline_ms), dp_end_values(at, T, rounding=rounding))


@CORE
@given(chains())
def test_span_serves_only_its_own_chain_unit_rounding_and_budgets(ch):
    c, T = ch.costs, ch.unit_ms
    span = dp_span(c, T, c.deadline_ms)
    assert span.serves(c, T, "ceil")
    assert not span.serves(c, T * 2, "ceil")
    assert not span.serves(c, T, "round")
    assert not span.serves(replace(c, deadline_ms=c.deadline_ms + 2 * T), T, "ceil")
    assert not span.serves(replace(c, reward=c.reward + 1.0), T, "ceil")
    assert not span.serves(replace(c, up_ms=c.up_ms + 1.0), T, "ceil")
    assert not span.serves(replace(c, end_client=not c.end_client), T, "ceil")
    with pytest.raises(ValueError):
        span.policy(c.deadline_ms + 2 * T)


@CORE
@given(chains(), st.floats(1.0, 3.0), st.lists(st.floats(0.0, 1.0), min_size=1, max_size=6),
       st.sampled_from(("ceil", "round")))
def test_a_label_span_gives_the_fresh_dp_at_every_deadline_it_covers(ch, stretch, fractions, rounding):
    """The same with W large enough for the sparse labels: the pass is a LabelTables (the app's span
    for long deadlines, state._span), and each deadline's policy and frontier equal a fresh DP's."""
    c = ch.costs
    T = c.deadline_ms * stretch / (SPARSE_MIN_UNITS * 2)
    span = dp_span(c, T, c.deadline_ms * stretch, rounding=rounding)
    assert isinstance(span.tables, LabelTables)
    for f in fractions:
        at = replace(c, deadline_ms=c.deadline_ms * stretch * f)
        assert span.serves(at, T, rounding)
        assert span.policy(at.deadline_ms) == dp_policy(at, T, rounding=rounding)
        np.testing.assert_array_equal(span.end_values(at.deadline_ms), dp_end_values(at, T, rounding=rounding))

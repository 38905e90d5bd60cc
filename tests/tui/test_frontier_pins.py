"""The frontier chart under pins (issue 25): every point of its DP line is the DP's answer with the pins at
that deadline, and its greedy and no-split lines are those solvers' answers (pins applied as they apply
them, a memory limit they break making the point infeasible). A memory limit that can bind is left out of
the DP line, and the state's note says so."""

from __future__ import annotations

import math

import numpy as np
import pytest

import splittui
from splittui.solvers import solve
from splittui.tui.state import Parts, compute_state

FRONT = Parts(frozenset(), frontier=True, timelines=False)   # the chart's series only: no solver rows


@pytest.fixture(scope="module")
def profile():
    return splittui.load_profile("gpt2-like")


def _share(res) -> float:
    return res.server_share if res.feasible else math.nan


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) < 1e-9


def _check_lines(profile, sc, st, points: int = 14) -> None:
    f = st.frontier
    for i in np.linspace(1, len(f.deadline_ms) - 1, points).astype(int).tolist():
        d = float(f.deadline_ms[i])
        assert _same(float(f.server_share[i]), _share(solve(profile, sc.replace(deadline_ms=d), "dp"))), d
    xs, greedy, nosplit = st.baselines
    for j in range(1, len(xs), 5):
        at = sc.replace(deadline_ms=float(xs[j]))
        assert _same(float(greedy[j]), _share(solve(profile, at, "greedy"))), xs[j]
        assert _same(float(nosplit[j]), _share(solve(profile, at, "no-split"))), xs[j]


@pytest.mark.parametrize("over", [
    {"pin_client": (0, 194), "pin_server": (40, 41)},
    {"pin_client": (0,), "pin_server": (100,), "gen_tokens": 8},
], ids=["prefill", "8 output tokens"])
def test_the_chart_lines_are_the_solvers_answers_under_pins(profile, over):
    sc = splittui.Scenario(**over)
    st = compute_state(profile, sc, parts=FRONT)
    assert "frontier chart" not in st.note
    _check_lines(profile, sc, st)
    free = compute_state(profile, splittui.Scenario(**{k: v for k, v in over.items() if not k.startswith("pin")}),
                         parts=FRONT)
    # the pins move the lines: a chart that left them out would fail the checks above somewhere
    assert not np.array_equal(np.nan_to_num(st.frontier.server_share, nan=-1),
                              np.nan_to_num(free.frontier.server_share, nan=-1))
    assert not np.array_equal(np.nan_to_num(st.baselines[1], nan=-1), np.nan_to_num(free.baselines[1], nan=-1))


def test_a_binding_memory_limit_is_named_and_the_baselines_keep_it(profile):
    """A 1.6 GB client: greedy's longer prefixes do not fit it (infeasible on the chart, as the solver says
    "does not fit"); the DP line leaves the limit out and the note says so."""
    sc = splittui.Scenario(pin_client=(0,), client_mem_gb=1.6)
    st = compute_state(profile, sc, parts=FRONT)
    assert "the frontier chart leaves out the memory limits" in st.note
    xs, greedy, nosplit = st.baselines
    free = compute_state(profile, splittui.Scenario(pin_client=(0,)), parts=FRONT).baselines[1]
    assert np.isnan(greedy).sum() > np.isnan(free).sum() and np.isfinite(greedy).any()
    for j in range(1, len(xs), 3):
        at = sc.replace(deadline_ms=float(xs[j]))
        assert _same(float(greedy[j]), _share(solve(profile, at, "greedy"))), xs[j]
        assert _same(float(nosplit[j]), _share(solve(profile, at, "no-split"))), xs[j]

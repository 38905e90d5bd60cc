"""Overflow-safe solvers (issue 17, item 2): a cost over COST_LIMIT is refused up front by every solver
with one line naming the field; a cost just under it is solved, and dp, exact and the baselines agree."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
from cli_runner import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from splittui.costs import COST_LIMIT, costs_for
from splittui.errors import SplittuiError
from splittui.model import Scenario
from splittui.profiles import profile_from_doc
from splittui.solvers import SOLVERS, solve, solve_all
from splittui.solvers.exact import meets

ALL = tuple(s for s in SOLVERS if s != "brute-force")
SC = Scenario(deadline_ms=100.0, up_mbps=100.0, seq_len=128)
UP_MS_PER_BYTE = 8.0 / (SC.up_mbps * 1e3)
BELOW, ABOVE = COST_LIMIT * (1 - 1e-12), COST_LIMIT * (1 + 1e-12)


def _with(doc: dict, layer: int, field: str, value: float) -> dict:
    doc = copy.deepcopy(doc)
    doc["layers"][layer][field] = [value] * len(doc["seq_lens"])
    return doc


def _outcomes(profile, sc) -> dict[str, str]:
    """Per solver: 'refused: <message>' or the feasibility and policy it found."""
    out = {}
    for name in ALL:
        try:
            res = solve(profile, sc, name)
        except SplittuiError as exc:
            out[name] = f"refused: {exc}"
        else:
            out[name] = f"feasible={res.feasible}"
    return out


@pytest.mark.parametrize("solver", [*ALL, "all"])
def test_1e308_profile_gets_one_line_and_exit_2(tiny_doc, write_doc, capsys, solver):
    path = write_doc(_with(tiny_doc, 1, "in_bytes", 1e308))
    rc, out, err = run_cli(["solve", "--profile", path, "--solver", solver, "--json"], capsys)
    assert rc == 2 and out == "" and "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert str(path) in line and "layers[1] (blk1).in_bytes" in line and "overflow" in line


@pytest.mark.parametrize("field, value", [("client_ms", ABOVE), ("server_ms", ABOVE), ("flops", ABOVE),
                                          ("in_bytes", ABOVE / UP_MS_PER_BYTE), ("client_ms", 1e308)])
def test_just_above_the_limit_every_solver_refuses_the_same_way(tiny_doc, field, value):
    profile = profile_from_doc(_with(tiny_doc, 2, field, value), source="p.json")
    outcomes = _outcomes(profile, SC)
    assert len(set(outcomes.values())) == 1, outcomes
    message = outcomes["dp"]
    assert message.startswith("refused: p.json: field 'layers[2] (blk2)." + field + "'"), message
    assert "\n" not in message


@pytest.mark.parametrize("field, value", [("client_ms", BELOW), ("server_ms", BELOW), ("flops", BELOW),
                                          ("in_bytes", BELOW / UP_MS_PER_BYTE)])
def test_just_below_the_limit_every_solver_answers_and_dp_agrees_with_exact(tiny_doc, field, value):
    profile = profile_from_doc(_with(tiny_doc, 2, field, value), source="p.json")
    results = solve_all(profile, SC, ALL)
    exact = results["exact"]
    assert exact.feasible  # the huge cost can be avoided (or is only a reward)
    for name, res in results.items():
        if res.feasible:
            assert meets(res.latency_ms, SC.deadline_ms), name
            assert res.client_share <= exact.client_share + 1e-12, name
            assert math.isfinite(res.latency_ms) and math.isfinite(res.server_share)
    assert results["dp"].feasible


def test_scenario_flags_that_overflow_are_refused_naming_the_flag(tiny_doc):
    profile = profile_from_doc(tiny_doc, source="p.json")
    with pytest.raises(SplittuiError, match=r"scenario: delay_ms 1e\+301 .*overflow"):
        costs_for(profile, SC.replace(delay_ms=1e301))
    with pytest.raises(SplittuiError, match=r"scenario: up_mbps 1e-310 .*ms per byte"):
        costs_for(profile, SC.replace(up_mbps=1e-310, down_mbps=1.0))
    with pytest.raises(SplittuiError, match=r"layers\[0\] \(blk0\).in_bytes': 4096 bytes take .* down_mbps 1e-300"):
        costs_for(profile, SC.replace(down_mbps=1e-300))


def test_a_tiny_unit_does_not_overflow_the_dp_integers(tiny_doc):
    """Times of 5 ms in units of 1e-300 ms are 5e300 units: far past int64, clamped, not wrapped."""
    profile = profile_from_doc(tiny_doc, source="p.json")
    sc = SC.replace(deadline_ms=1e-297, unit_ms=1e-300)
    outcomes = _outcomes(profile, sc)
    assert set(outcomes.values()) == {"feasible=False"}, outcomes


_magnitude = st.one_of(st.sampled_from([0.0, 5e-324, 1e-300, BELOW, ABOVE, 1e308, 1.7976931348623157e308]),
                       st.builds(lambda m, e: m * 10.0 ** e, st.floats(1, 9.99), st.integers(-320, 308))
                       .filter(math.isfinite))   # 9.99e308 overflows to inf, which the loader refuses itself


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(_magnitude, min_size=4, max_size=4), layer=st.integers(0, 2),
       deadline=st.sampled_from([1.0, 100.0, 1e6, 1e300]), unit=st.sampled_from([1.0, 1e-6, 1e299]))
def test_any_magnitude_is_solved_or_refused_alike_by_every_solver(tiny_doc, values, layer, deadline, unit):
    doc = copy.deepcopy(tiny_doc)  # the fixture is never mutated, so sharing it across examples is safe
    for field, v in zip(("client_ms", "server_ms", "in_bytes", "flops"), values, strict=True):
        doc["layers"][layer][field] = [v, v]
    profile = profile_from_doc(doc, source="p.json")
    sc = SC.replace(deadline_ms=deadline, unit_ms=unit)
    outcomes = _outcomes(profile, sc)
    refused = {k: v for k, v in outcomes.items() if v.startswith("refused")}
    memory = {k for k, v in refused.items() if "DP table" in v}   # dp's own memory refusal
    others = set(refused) - memory
    assert others in (set(), set(ALL) - memory), outcomes
    if not others:
        res = solve_all(profile, sc, [s for s in ALL if s not in memory])
        for name, r in res.items():
            assert (not r.feasible) or (meets(r.latency_ms, deadline) and np.isfinite(r.server_share)), name

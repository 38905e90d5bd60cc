"""Identical repeated blocks in the constrained pass (SPEC §10, `constrained_blocks`): on chains that repeat a
block, exact and dp keep only canonical labels and bound levels 2 and 3 over the completions their level
allows, and still match brute force; the level bounds hold for every canonical policy; the pin-aware least
remaining latency is at most every policy's; the screened incumbent is the one a policy-by-policy scan finds."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_memory import chains, exact_matches_brute_force, limit_for, meets, reward

from splittui.costs import Costs, latency, min_latency
from splittui.memory import MemRows
from splittui.solvers.constrained import _cases, _Chain, _rest_bounds, constrained_dp
from splittui.solvers.constrained_blocks import PRUNED, Blocks, find_blocks
from splittui.solvers.constrained_incumbent import _incumbent, _meets, _remaining
from splittui.solvers.constrained_labels import _blocks


@st.composite
def block_chains(draw, max_n: int = 11):
    """Chains of a few head layers, a block of 1-3 layers repeated 2-4 times and a few tail layers (integer
    costs: ties and equal totals are common), a client limit that binds, pins often (the same in every block,
    or anywhere: then the blocks may break)."""
    p = draw(st.integers(1, 3))
    m = draw(st.integers(2, max(2, min(4, (max_n - 1) // p))))
    head = draw(st.integers(0, max(0, min(2, max_n - p * m))))
    tail = draw(st.integers(0, max(0, min(2, max_n - p * m - head))))
    n = head + p * m + tail
    val = st.integers(0, 30).map(float)

    def arr() -> np.ndarray:
        blk = draw(st.lists(val, min_size=p, max_size=p))
        return np.array(draw(st.lists(val, min_size=head, max_size=head)) + blk * m
                        + draw(st.lists(val, min_size=tail, max_size=tail)))

    c = Costs(client_ms=arr() * 3, server_ms=arr(), up_ms=arr(), down_ms=arr(), reward=arr(),
              up_out_ms=draw(val), down_out_ms=draw(val), start_client=draw(st.booleans()),
              end_client=draw(st.booleans()), deadline_ms=1.0)
    held, act = arr() * 3e8, arr() * 1e8
    budget = float(held.sum() + act.max()) * draw(st.floats(0.2, 0.9))
    mem = MemRows(weights=held, kv=np.zeros(n), act=act, tied=None, limit=(limit_for(budget), None))
    assert mem.budget[0] == pytest.approx(budget)
    pin = None
    kind = draw(st.sampled_from(("none", "block", "any")))
    if kind != "none":
        pick = st.sampled_from((-1, -1, 0, 1))
        if kind == "block":
            pin = np.array(draw(st.lists(pick, min_size=head, max_size=head))
                           + draw(st.lists(pick, min_size=p, max_size=p)) * m
                           + draw(st.lists(pick, min_size=tail, max_size=tail)), dtype=np.int8)
        else:
            pin = np.array(draw(st.lists(pick, min_size=n, max_size=n)), dtype=np.int8)
    c = replace(c, mem=mem, pin=pin)
    slack = float(int(c.client_ms.sum() * draw(st.floats(0.0, 0.6))))   # past the least latency (pins obeyed)
    return replace(c, deadline_ms=min_latency(c) + slack + 1.0)


@settings(max_examples=300, deadline=None)
@given(c=block_chains())
def test_exact_and_dp_match_brute_force_on_repeated_blocks(c):
    want = exact_matches_brute_force(c)
    dp = constrained_dp(c, 1.0)   # integer costs: the integer chain is the chain itself
    assert (dp is None) == (want is None)
    if dp is not None:
        assert meets(c, dp)
        assert reward(c, dp) == pytest.approx(reward(c, want), rel=1e-12, abs=1e-9)


def _levels(blocks: Blocks, x: tuple[int, ...], start_client: bool) -> list[int]:
    """The level of policy x's label after each layer (`Blocks.step`, one label at a time)."""
    lv = np.array([blocks.initial(start_client)], dtype=np.int8)
    out = []
    for i, side in enumerate(x):
        lv = blocks.step(lv, i, side == 1)
        out.append(int(lv[0]))
    return out


@settings(max_examples=200, deadline=None)
@given(c=block_chains(max_n=9))
def test_level_bounds_hold_for_every_canonical_policy(c):
    """Each prefix label of a feasible canonical policy (never pruned by its level) is bounded, with its
    level, by at least the policy's reward: the level fronts miss no completion the level allows."""
    case = _cases(c)[0]
    ch = _Chain.of(c)
    blocks = _blocks([ch], c.reward, case)
    rest = _rest_bounds([ch], c.reward, case, [c.deadline_ms + 1e-9 * max(1.0, c.deadline_ms)])
    if blocks is None or rest is None:
        return
    for x in itertools.product((0, 1), repeat=c.n):
        if not meets(c, x):
            continue
        lvs = _levels(blocks, x, c.start_client)
        if PRUNED in lvs:
            continue
        total = reward(c, x)
        t, prev = 0.0, 1 if c.start_client else 0
        for i in range(c.n):
            t += (ch.client[i] + (ch.down[i] if prev == 0 else 0.0)) if x[i] == 1 else \
                (ch.server[i] + (ch.up[i] if prev == 1 else 0.0))
            prev = x[i]
            on = np.array(x[: i + 1]) == 1
            r, h = float(c.reward[: i + 1] @ on), float(case.held[: i + 1][on].sum())
            a = float(case.act[: i + 1][on].max()) if on.any() else -math.inf
            side = 0 if x[i] == 1 else 1
            ub = rest.at(i + 1, side, np.array([t]), np.array([r]), np.array([h]), np.array([a]),
                         np.array([lvs[i]], dtype=np.int8))[0]
            assert ub >= total - 1e-9 * max(1.0, abs(total)), (x, i, lvs[i], ub, total)


@settings(max_examples=200, deadline=None)
@given(c=block_chains(max_n=9))
def test_every_policy_has_a_canonical_one_as_good(c):
    """The policies the levels prune are never needed: for each feasible policy some canonical feasible one
    has the same reward and no more latency."""
    ch = _Chain.of(c)
    case = _cases(c)[0]
    blocks = _blocks([ch], c.reward, case)
    if blocks is None:
        return
    best: dict[tuple[int, ...], tuple[float, float]] = {}
    canon = []
    for x in itertools.product((0, 1), repeat=c.n):
        if meets(c, x):
            key = (reward(c, x), latency(c, np.array(x, dtype=np.int8)))
            best[x] = key
            if PRUNED not in _levels(blocks, x, c.start_client):
                canon.append(key)
    for r, t in best.values():
        assert any(cr == pytest.approx(r, abs=1e-9) and ct <= t + 1e-9 for cr, ct in canon), (r, t)


@settings(max_examples=200, deadline=None)
@given(c=block_chains(max_n=9))
def test_least_remaining_latency_with_pins_is_at_most_every_policys(c):
    ch = _Chain.of(c)
    pin = c.pin if c.pin is not None else np.full(c.n, -1, dtype=np.int8)
    rem = _remaining(ch, pin)
    for x in itertools.product((0, 1), repeat=c.n):
        xa = np.array(x, dtype=np.int8)
        if ((pin >= 0) & (pin != xa)).any():
            continue
        tot = latency(replace(c, mem=None, pin=None), xa)
        t, prev = 0.0, 1 if c.start_client else 0
        for i in range(c.n):
            t += (ch.client[i] + (ch.down[i] if prev == 0 else 0.0)) if x[i] == 1 else \
                (ch.server[i] + (ch.up[i] if prev == 1 else 0.0))
            prev = x[i]
            assert t + rem[0 if x[i] == 1 else 1][i + 1] <= tot + 1e-9 * max(1.0, tot)


def test_find_blocks_finds_the_repeated_region():
    blk = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    rows = np.array([[9.0, 9.0]] + blk * 4 + [[7.0, 7.0]])
    assert find_blocks(rows) == Blocks(1, 3, 4)
    assert find_blocks(np.arange(10.0)[:, None]) is None


def _scan_incumbent(c: Costs):
    """The pinned prefix and suffix policies one by one, the best (reward, −latency) first found kept."""
    ch, lims = [_Chain.of(c)], [c.deadline_ms + 1e-9 * max(1.0, c.deadline_ms)]
    pin = c.pin if c.pin is not None else np.full(c.n, -1, dtype=np.int8)
    best = None
    for k in range(c.n + 1):
        for x0 in (np.r_[np.ones(k), np.zeros(c.n - k)], np.r_[np.zeros(k), np.ones(c.n - k)]):
            x = np.where(pin >= 0, pin, x0).astype(np.int8)
            t = _meets(ch, lims, c, x)
            if t is not None:
                cand = (float(c.reward @ x), -t, tuple(int(v) for v in x))
                if best is None or cand[:2] > best[:2]:
                    best = cand
    return best


@settings(max_examples=200, deadline=None)
@given(c=st.one_of(chains(), block_chains()))
def test_screened_incumbent_is_the_scanned_one(c):
    want = _scan_incumbent(c)
    got = _incumbent([_Chain.of(c)], c.reward, c, [c.deadline_ms + 1e-9 * max(1.0, c.deadline_ms)])
    assert (got is None) == (want is None)
    if want is not None:
        assert got[:2] == want[:2]


@settings(max_examples=200, deadline=None)
@given(c=block_chains(max_n=9))
def test_a_level_3_label_owes_no_more_bytes_than_its_canonical_completions_hold(c):
    """`forced_bytes`: after each layer where a canonical policy's label has level 3, the client bytes its
    remaining free layers hold are at least what the pass says it owes."""
    case = _cases(c)[0]
    blocks = _blocks([_Chain.of(c)], c.reward, case)
    if blocks is None:
        return
    owed = blocks.forced_bytes(case.held, case.pin)
    for x in itertools.product((0, 1), repeat=c.n):
        xa = np.array(x, dtype=np.int8)
        if c.pin is not None and ((c.pin >= 0) & (c.pin != xa)).any():
            continue
        lvs = _levels(blocks, x, c.start_client)
        if PRUNED in lvs:
            continue
        for i, v in enumerate(lvs):
            if v == 3:
                later = (xa[i + 1:] == 1) & (case.pin[i + 1:] != 1)
                assert float(case.held[i + 1:][later].sum()) >= owed[i] - 1e-6, (x, i)

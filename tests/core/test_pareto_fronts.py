"""The exact solvers' Pareto filters against their definition, written out in plain Python.

`exact.merge_front` (latency, reward) and `request._pareto3` (TTFT, decode latency, reward) must keep
exactly the labels that no label earlier in their (sorted) order matches or beats in every
coordinate, in that order: which of two equal labels survives decides the policy on ties. Values
come from a few levels so that equal coordinates are common; `_pareto3`'s small-set path and its
blocked path for large sets must agree.
"""

from __future__ import annotations

import numpy as np
import pytest
from core_strategies import CORE
from hypothesis import given
from hypothesis import strategies as st

from splittui.solvers import exact, request
from splittui.solvers.exact import merge_front

LEVELS = st.sampled_from((0.0, 1.0, 1.5, 2.0, 7.25))


def _front(keys: list[tuple], keep: list[bool]) -> list[int]:
    """Indices of the kept candidates, sorted by `keys` (ties: lower index), minus those that an
    earlier one in that order is at least as good as in every coordinate (key order: smaller is better)."""
    order = sorted((i for i in range(len(keys)) if keep[i]), key=lambda i: (keys[i], i))
    out = []
    for pos, i in enumerate(order):
        if not any(all(a <= b for a, b in zip(keys[j], keys[i])) for j in order[:pos]):
            out.append(i)
    return out


@st.composite
def labels(draw, dims: int, max_size: int = 40):
    n = draw(st.integers(0, max_size))
    cols = [draw(st.lists(LEVELS, min_size=n, max_size=n)) for _ in range(dims)]
    keep = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return [np.array(c) for c in cols], np.array(keep, dtype=bool)


def _as_front(lat, rew) -> tuple[list[float], list[float]]:
    """A state's labels as `merge_front` takes them: their own front, latency ascending."""
    idx = _front([(lat[i], -rew[i]) for i in range(lat.size)], [True] * lat.size)
    return [float(lat[i]) for i in idx], [float(rew[i]) for i in idx]


@CORE
@given(labels(2, 20), labels(2, 20), LEVELS, LEVELS, LEVELS, LEVELS, st.sampled_from((0.0, 3.0, 9.0, 30.0)))
def test_merge_front_keeps_exactly_the_undominated_candidates_in_time(a, b, own, gain, hop, rem, limit):
    for numpy_above in (exact.NUMPY_LABELS, 0):   # the plain-Python merge, and numpy's sort for large fronts
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(exact, "NUMPY_LABELS", numpy_above)
            _check_merge(a, b, own, gain, hop, rem, limit)


def _check_merge(a, b, own, gain, hop, rem, limit) -> None:
    same, other = _as_front(*a[0]), _as_front(*b[0])
    lat = [t + own for t in same[0]] + [(t + hop) + own for t in other[0]]   # the solver's float sums
    rew = [r + gain for r in same[1] + other[1]]
    keep = [t + rem <= limit for t in lat]
    want = _front([(lat[i], -rew[i]) for i in range(len(lat))], keep)
    (got_lat, got_rew), kept = merge_front(same, other, own, gain, hop, rem, limit)
    assert list(kept) == want
    assert (list(got_lat), list(got_rew)) == ([lat[i] for i in want], [rew[i] for i in want])


@CORE
@given(labels(3))
def test_pareto_3d_small_and_blocked_paths_keep_exactly_the_undominated_labels(data):
    (P, D, R), keep = data
    keys = [(P[i], D[i], -R[i]) for i in range(P.size)]
    want = _front(keys, keep.tolist())
    assert request._pareto3(P, D, R, keep).tolist() == want
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(request, "_SMALL", 0)      # the pre-pass and the blocks, as for large label sets
        mp.setattr(request, "_BLOCK", 3)
        assert request._pareto3(P, D, R, keep).tolist() == want

"""The exact solvers' Pareto filters against their definition, written out in plain Python.

`exact.merge_front` (latency, reward) and `request._pareto3` (TTFT, decode latency, reward) must keep
exactly the labels that no label earlier in their (sorted) order matches or beats in every
coordinate, in that order: which of two equal labels survives decides the policy on ties. Values
come from a few levels so that equal coordinates are common; `_pareto3`'s small-set path and its
path for large sets (which compares only the two groups of candidates, each a front) must agree.
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
FEW = st.sampled_from((0.0, 1.0, 2.0))                  # equal labels across the two groups are common


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
def labels(draw, dims: int, max_size: int = 40, levels=LEVELS):
    n = draw(st.integers(0, max_size))
    cols = [draw(st.lists(levels, min_size=n, max_size=n)) for _ in range(dims)]
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


def _as_front3(P, D, R) -> list[tuple[float, float, float]]:
    """A state's labels as `_pareto3` gets them: their own 3-D front, in (P, D, -R) order."""
    keys = [(P[i], D[i], -R[i]) for i in range(P.size)]
    return [(float(P[i]), float(D[i]), float(R[i])) for i in _front(keys, [True] * P.size)]


@CORE
@given(labels(3, 25, FEW), labels(3, 25, FEW), FEW, FEW, FEW, st.data())
def test_pareto_3d_small_and_cross_group_paths_keep_exactly_the_undominated_labels(a, b, own, gain, hop, data):
    same, other = _as_front3(*a[0]), _as_front3(*b[0])
    cand = [(p + own, d + own, r + gain) for p, d, r in same] + [(p + hop + own, d + hop, r) for p, d, r in other]
    P, D, R = (np.array([c[k] for c in cand], dtype=float).reshape(-1) for k in range(3))
    keep = np.array(data.draw(st.lists(st.booleans(), min_size=len(cand), max_size=len(cand))), dtype=bool)
    want = _front([(P[i], D[i], -R[i]) for i in range(P.size)], keep.tolist())
    assert request._pareto3(P, D, R, keep, len(same)).tolist() == want
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(request, "_SMALL", 0)      # the cross-group comparison, in blocks of a few rows
        mp.setattr(request, "_CELLS", 7)
        assert request._pareto3(P, D, R, keep, len(same)).tolist() == want

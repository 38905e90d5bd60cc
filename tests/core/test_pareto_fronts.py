"""The exact solvers' Pareto filters against their definition, written out in plain Python.

`exact.merge_front` (latency, reward) must keep exactly the labels that no label earlier in its
(sorted) order matches or beats in every coordinate, in that order: which of two equal labels
survives decides the policy on ties. `request.step3` (TTFT, decode latency, reward; both sides of a
layer at once) must keep exactly the candidates within its bounds that no other candidate of their
side matches or beats, the same side's winning ties. Values come from a few levels so that equal
coordinates are common; `step3`'s comparison in one piece and in blocks must agree.
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


def _as_front3(P, D, R) -> np.ndarray:
    """A state's labels as `step3` gets them: their own 3-D front, one column (P, D, -R, P+D) each."""
    keys = [(P[i], D[i], -R[i]) for i in range(P.size)]
    idx = _front(keys, [True] * P.size)
    return np.array([[P[i], D[i], -R[i], P[i] + D[i]] for i in idx], dtype=float).reshape(-1, 4).T


@st.composite
def shifts(draw):
    """V[row, side, source] and TH[row, side, 0] for one layer, from a few levels (ties are common)."""
    V = np.array(draw(st.lists(FEW, min_size=12, max_size=12)), dtype=float).reshape(3, 2, 2)
    V = np.concatenate((V, V[:1] + V[1:2]))
    TH = np.array(draw(st.lists(st.sampled_from((2.0, 3.0, 4.0, np.inf)), min_size=8, max_size=8))).reshape(4, 2, 1)
    return V, TH


@CORE
@given(labels(3, 25, FEW), labels(3, 25, FEW), shifts())
def test_step3_keeps_exactly_the_undominated_candidates_within_bounds(a, b, vt):
    C, S = _as_front3(*a[0]), _as_front3(*b[0])
    V, TH = vt
    for cells in (request._CELLS, 3):               # one comparison, and blocks of a few candidates
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(request, "_CELLS", cells)
            got = request.step3(C, S, V, TH)
        for side in (0, 1):
            cand = [C[:, k] + V[:, side, 0] for k in range(C.shape[1])]
            cand += [S[:, k] + V[:, side, 1] for k in range(S.shape[1])]
            cols = list(range(len(cand)))                 # step3's candidate order: from C, then from S
            if side == 1:                                 # the written-out rule wants the same side first
                cols = cols[C.shape[1]:] + cols[:C.shape[1]]
            keep = [bool((cand[c] <= TH[:, side, 0]).all()) for c in cols]
            want = sorted(cols[i] for i in _front([tuple(cand[c][:3]) for c in cols], keep))
            kept = got[2 + side]
            assert kept.tolist() == want
            assert np.array_equal(got[side], np.array(cand).reshape(-1, 4)[want].T.reshape(4, -1))

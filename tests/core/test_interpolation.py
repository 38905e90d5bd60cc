"""Sequence-length interpolation (splittui.costs): exact at the samples, exact for monotone quadratics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from core_strategies import CORE
from hypothesis import given
from hypothesis import strategies as st

from splittui.costs import costs_for, layer_values
from splittui.errors import SplittuiError
from splittui.model import Scenario
from splittui.profiles import profile_from_doc


def _doc(seq_lens, columns):
    """columns: per layer, a function s -> value used for every array field."""
    layers = [{"name": f"l{i}", "kind": "linear", **{k: [float(f(s)) for s in seq_lens]
                                                      for k in ("flops", "client_ms", "server_ms", "in_bytes")}}
              for i, f in enumerate(columns)]
    return {"schema": "splittui.profile/1", "model": "q", "seq_lens": list(seq_lens),
            "output_bytes": [float(columns[0](s)) for s in seq_lens], "layers": layers}


seq_lists = st.lists(st.integers(1, 8192), min_size=1, max_size=7, unique=True).map(sorted)
coef = st.floats(0, 1e3, allow_nan=False, allow_subnormal=False)


@CORE
@given(seq_lists, st.lists(st.lists(st.floats(0, 1e9, allow_subnormal=False), min_size=7, max_size=7),
                           min_size=1, max_size=4))
def test_exact_at_samples(seq_lens, rows):
    columns = [lambda s, r=r, lens=tuple(seq_lens): r[lens.index(s)] for r in rows]
    prof = profile_from_doc(_doc(seq_lens, columns))
    for s in seq_lens:
        for field in ("flops", "client_ms", "server_ms", "in_bytes"):
            got = layer_values(prof, field, s)
            want = [r[seq_lens.index(s)] for r in rows]
            assert np.array_equal(got, np.array(want)), (field, s)


@CORE
@given(seq_lists.filter(lambda v: len(v) >= 3), st.lists(st.tuples(coef, coef, coef), min_size=1, max_size=3),
       st.data())
def test_exact_for_monotone_quadratics(seq_lens, coefs, data):
    columns = [lambda s, a=a, b=b, c=c: a + b * s + c * s * s for a, b, c in coefs]
    prof = profile_from_doc(_doc(seq_lens, columns))
    s = data.draw(st.integers(seq_lens[0], seq_lens[-1]))
    got = layer_values(prof, "client_ms", s)
    for g, f in zip(got, columns, strict=False):
        assert math.isclose(g, f(s), rel_tol=1e-9, abs_tol=1e-6), (s, g, f(s))


@CORE
@given(st.lists(st.integers(1, 8192), min_size=2, max_size=2, unique=True).map(sorted),
       st.tuples(coef, coef), st.data())
def test_exact_for_lines_with_two_samples(seq_lens, ab, data):
    a, b = ab
    prof = profile_from_doc(_doc(seq_lens, [lambda s: a + b * s]))
    s = data.draw(st.integers(seq_lens[0], seq_lens[-1]))
    assert math.isclose(layer_values(prof, "flops", s)[0], a + b * s, rel_tol=1e-9, abs_tol=1e-6)


@CORE
@given(seq_lists, st.data())
def test_interpolated_values_stay_between_bracketing_samples(seq_lens, data):
    vals = data.draw(st.lists(st.floats(0, 1e6, allow_subnormal=False), min_size=len(seq_lens),
                              max_size=len(seq_lens)))
    prof = profile_from_doc(_doc(seq_lens, [lambda s: vals[seq_lens.index(s)]]))
    s = data.draw(st.integers(seq_lens[0], seq_lens[-1]))
    v = layer_values(prof, "server_ms", s)[0]
    hi = next(i for i, x in enumerate(seq_lens) if x >= s)
    lo = hi if seq_lens[hi] == s else hi - 1
    assert min(vals[lo], vals[hi]) - 1e-9 <= v <= max(vals[lo], vals[hi]) + 1e-9


def test_gpt2_like_interpolation_reproduces_the_analytic_formulas(gpt2_doc):
    """The analytic profile's FLOPs are quadratics in s: a length between samples is exact."""
    from splittui.analytic import gpt2_like_doc

    prof = profile_from_doc(gpt2_doc)
    direct = profile_from_doc(gpt2_like_doc(seq_lens=(128, 256, 384, 512, 768, 4096)))
    for s in (384, 768):
        assert np.allclose(layer_values(prof, "flops", s), layer_values(direct, "flops", s), rtol=1e-9)
        assert np.allclose(layer_values(prof, "in_bytes", s), layer_values(direct, "in_bytes", s), rtol=1e-9)


@pytest.mark.parametrize("s", [127, 4097, 1])
def test_outside_range_is_an_error(gpt2_doc, s):
    prof = profile_from_doc(gpt2_doc, source="g.json")
    with pytest.raises(SplittuiError, match=rf"seq_len {s} is outside the profile's range 128\.\.4096"):
        costs_for(prof, Scenario(seq_len=s))

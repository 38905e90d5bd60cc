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


# --- pinned by hand: every value below is worked out in the comment beside it (SPEC §6 + costs.py's rule)

def _one(seq_lens, values, s, field="client_ms"):
    prof = profile_from_doc(_doc(seq_lens, [lambda x: values[list(seq_lens).index(x)]]))
    return float(layer_values(prof, field, s)[0])


@pytest.mark.parametrize("s, want", [
    (100, 10.0), (200, 30.0),          # the samples themselves
    (150, 20.0), (125, 15.0),          # two samples: the line 10 + 0.2 (s - 100)
    (199, 29.8), (101, 10.2),
])
def test_two_samples_are_joined_by_a_line(s, want):
    assert math.isclose(_one((100, 200), (10.0, 30.0), s), want, rel_tol=1e-12)


def test_two_samples_decreasing():
    # 50 at 64, 10 at 128: at 80, 50 - 40 * 16/64 = 40
    assert math.isclose(_one((64, 128), (50.0, 10.0), 80), 40.0, rel_tol=1e-12)


@pytest.mark.parametrize("s, want", [
    (150, 2.25), (300, 9.0), (250, 6.25), (399, 15.9201),   # (s/100)^2 through 100, 200, 400: exact
])
def test_three_samples_follow_the_quadratic(s, want):
    assert math.isclose(_one((100, 200, 400), (1.0, 4.0, 16.0), s), want, rel_tol=1e-12)


def test_three_samples_quadratic_between_without_clamping():
    # 0, 10, 10 at 100, 200, 400; s = 150 (bracket 100..200):
    # Lagrange weights (150-200)(150-400)/((100-200)(100-400)) = 5/12, (150-100)(150-400)/((200-100)(200-400)) = 5/8,
    # (150-100)(150-200)/((400-100)(400-200)) = -1/24  ->  0 + 10*5/8 - 10/24 = 35/6, inside [0, 10]
    assert math.isclose(_one((100, 200, 400), (0.0, 10.0, 10.0), 150), 35 / 6, rel_tol=1e-12)


def test_overshoot_is_clamped_to_the_bracketing_samples():
    # same samples, s = 300 (bracket 200..400): the quadratic gives -0/3 + 10*1 + 10/3 = 13.33 > 10,
    # clamped to the bracket's range [10, 10]
    assert _one((100, 200, 400), (0.0, 10.0, 10.0), 300) == 10.0
    # and an undershoot: 10, 0, 0 -> 10*(-1/3) = -3.33 < 0, clamped to 0
    assert _one((100, 200, 400), (10.0, 0.0, 0.0), 300) == 0.0


@pytest.mark.parametrize("s, want", [
    # lengths 100, 200, 300, 1000 with (s/100)^2 at the first three and 0 at 1000
    (250, 6.25),    # bracket 200..300; 100 is 150 away, 1000 is 750 away: 100, 200, 300 -> exact 6.25
    (150, 2.25),    # bracket 100..200, no sample below: the one above (300) -> 2.25
])
def test_the_nearer_outer_neighbour_is_the_third_point(s, want):
    assert math.isclose(_one((100, 200, 300, 1000), (1.0, 4.0, 9.0, 0.0), s), want, rel_tol=1e-12)


def test_the_upper_neighbour_when_it_is_nearer():
    # lengths 100, 200, 300, 350 with garbage 0 at 100 and (s/100)^2 at the rest; s = 280: 100 is 180
    # away, 350 is 70 away -> 200, 300, 350 -> 7.84 exactly (the garbage is not used)
    assert math.isclose(_one((100, 200, 300, 350), (0.0, 4.0, 9.0, 12.25), 280), 7.84, rel_tol=1e-12)
    # s = 220: 100 is 120 away, 350 is 130 away -> 100, 200, 300 with the garbage 0: the quadratic
    # 0, 4, 9 at 100, 200, 300 is 0.5 (s/100)^2 + 2.5 (s/100) - 3  ->  2.42 + 5.5 - 3 = 4.92
    assert math.isclose(_one((100, 200, 300, 350), (0.0, 4.0, 9.0, 12.25), 220), 4.92, rel_tol=1e-12)


def test_a_tie_between_the_outer_neighbours_takes_the_lower_one():
    # 100, 200, 300, 400, s = 250: both outer samples are 150 away -> 100, 200, 300. With (s/100)^2
    # at 100..300 and 0 at 400: 6.25 (the upper choice would give 200, 300, 400 -> 7.5)
    assert math.isclose(_one((100, 200, 300, 400), (1.0, 4.0, 9.0, 0.0), 250), 6.25, rel_tol=1e-12)


@pytest.mark.parametrize("s, want", [(128, 7.0), (4096, 3.0)])
def test_the_ends_of_the_range_are_the_end_samples(s, want):
    assert _one((128, 512, 4096), (7.0, 1.0, 3.0), s) == want


def test_a_single_sample_is_a_fixed_cost_table():
    assert _one((300,), (42.0,), 300) == 42.0
    prof = profile_from_doc(_doc((300,), [lambda s: 42.0]))
    for s in (299, 301):
        with pytest.raises(SplittuiError, match=rf"seq_len {s} is outside the profile's range 300\.\.300"):
            layer_values(prof, "flops", s)


@pytest.mark.parametrize("s", [127, 4097])
def test_one_past_either_end_is_an_error(s):
    prof = profile_from_doc(_doc((128, 512, 4096), [lambda x: 1.0]))
    with pytest.raises(SplittuiError, match="outside the profile's range 128..4096"):
        layer_values(prof, "client_ms", s)


def test_output_bytes_and_every_field_use_the_same_rule():
    # output_bytes 1000, 3000 at 100, 200 -> 2000 at 150; 8 Mbit/s = 1000 byte/ms, no delay -> 2 ms
    doc = _doc((100, 200), [lambda s: 10.0 * s])
    doc["output_bytes"] = [1000.0, 3000.0]
    sc = Scenario(seq_len=150, up_mbps=8.0, down_mbps=16.0, delay_ms=0.0, objective="server_ms")
    c = costs_for(profile_from_doc(doc), sc)
    assert math.isclose(c.up_out_ms, 2.0, rel_tol=1e-12) and math.isclose(c.down_out_ms, 1.0, rel_tol=1e-12)
    # every layer field is 10 s = 1500 at s = 150: in_bytes 1500 -> 1.5 ms up, 0.75 ms down
    assert math.isclose(c.up_ms[0], 1.5, rel_tol=1e-12) and math.isclose(c.down_ms[0], 0.75, rel_tol=1e-12)
    assert c.client_ms[0] == c.server_ms[0] == c.reward[0] == 1500.0

"""Bad input (issue 2, item 4): one line naming the file/field and the problem, exit status 2, no traceback."""

from __future__ import annotations

import copy
import json
import math
import re

import pytest
from cli_runner import run_cli
from core_strategies import CORE
from hypothesis import given
from hypothesis import strategies as st

from splittui.errors import SplittuiError
from splittui.model import Scenario
from splittui.profiles import load_profile
from splittui.solvers.dp import DP_MEM_LIMIT_BYTES, budget_units, check_memory, dp_memory_bytes, fitting_unit


def assert_one_line_error(rc, out, err, *needles):
    assert rc == 2, (rc, err)
    assert out == ""
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def _edit(doc, fn):
    doc = copy.deepcopy(doc)
    fn(doc)
    return doc


def _set(path, value):
    def fn(doc):
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return fn


def _del(path):
    def fn(doc):
        node = doc
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return fn


DOC_CASES = {
    "wrong schema": (_set(["schema"], "splittui.profile/0"), ["field 'schema'", "splittui.profile/1"]),
    "schema missing": (_del(["schema"]), ["field 'schema'"]),
    "missing layers": (_del(["layers"]), ["field 'layers'", "missing"]),
    "missing seq_lens": (_del(["seq_lens"]), ["field 'seq_lens'", "missing"]),
    "missing output_bytes": (_del(["output_bytes"]), ["field 'output_bytes'", "missing"]),
    "missing layer field": (_del(["layers", 1, "server_ms"]), ["layers[1] (blk1).server_ms", "missing"]),
    "array shorter than seq_lens": (_set(["layers", 0, "flops"], [1.0]),
                                    ["layers[0] (blk0).flops", "1 entries", "seq_lens has 2"]),
    "array longer than seq_lens": (_set(["layers", 2, "in_bytes"], [1.0, 2.0, 3.0]),
                                   ["layers[2] (blk2).in_bytes", "3 entries"]),
    "output_bytes length": (_set(["output_bytes"], [1.0]), ["field 'output_bytes'", "1 entries"]),
    "negative time": (_set(["layers", 1, "client_ms"], [-1.0, 2.0]), ["layers[1] (blk1).client_ms", ">= 0", "-1"]),
    "negative bytes": (_set(["layers", 0, "in_bytes"], [5.0, -8.0]), ["layers[0] (blk0).in_bytes", ">= 0"]),
    "string value": (_set(["layers", 0, "flops"], ["many", 2.0]), ["layers[0] (blk0).flops", "numbers"]),
    "no layers": (_set(["layers"], []), ["field 'layers'", "no layers"]),
    "layer not an object": (_set(["layers", 1], 7), ["layers[1]", "object"]),
    "seq_lens not increasing": (_set(["seq_lens"], [256, 128]), ["field 'seq_lens'", "increasing"]),
    "seq_lens not integers": (_set(["seq_lens"], [128.5, 256]), ["field 'seq_lens'", "integers"]),
    "model missing": (_del(["model"]), ["field 'model'", "missing"]),
}


@pytest.mark.parametrize("case", sorted(DOC_CASES))
def test_bad_profile_document(case, tiny_doc, write_doc, capsys):
    fn, needles = DOC_CASES[case]
    path = write_doc(_edit(tiny_doc, fn))
    assert_one_line_error(*run_cli(["solve", "--profile", path, "--seq", 128], capsys), str(path), *needles)


TEXT_CASES = {
    "not JSON": (lambda text: text[:-5], ["not valid JSON"]),
    "empty file": (lambda text: "", ["not valid JSON"]),
    "top level a list": (lambda text: f"[{text}]", ["top level must be a JSON object"]),
    "NaN literal": (lambda text: text.replace('"client_ms": [5.0,', '"client_ms": [NaN,', 1),
                    ["layers[0] (blk0).client_ms", "finite", "nan"]),
    "Infinity literal": (lambda text: text.replace('"server_ms": [0.5,', '"server_ms": [Infinity,', 1),
                         ["layers[0] (blk0).server_ms", "finite", "inf"]),
    "overflowing number": (lambda text: text.replace('"flops": [1000000.0,', '"flops": [1e999,', 1),
                           ["layers[0] (blk0).flops", "finite"]),
    "-Infinity output": (lambda text: text.replace('"output_bytes": [1024.0,', '"output_bytes": [-Infinity,'),
                         ["field 'output_bytes'", "finite"]),
    "NaN in an unknown field": (lambda text: text.replace('{"schema"', '{"extra": NaN, "schema"'), ["NaN"]),
}


@pytest.mark.parametrize("case", sorted(TEXT_CASES))
def test_bad_profile_text(case, tiny_doc, write_doc, capsys):
    fn, needles = TEXT_CASES[case]
    text = json.dumps(tiny_doc)
    bad = fn(text)
    assert bad != text
    path = write_doc(bad)
    assert_one_line_error(*run_cli(["solve", "--profile", path, "--seq", 128], capsys), str(path), *needles)


def test_missing_file_and_unknown_model(tmp_path, capsys):
    path = tmp_path / "absent.json"
    assert_one_line_error(*run_cli(["solve", "--profile", path], capsys), str(path), "cannot read")
    assert_one_line_error(*run_cli(["solve", "--model", "no-such-model"], capsys), "no-such-model", "gpt2-like")


@pytest.mark.parametrize("seq", [64, 100_000])
def test_seq_out_of_range(seq, tiny_doc, write_doc, capsys):
    path = write_doc(tiny_doc)
    assert_one_line_error(*run_cli(["solve", "--profile", path, "--seq", seq], capsys),
                          f"--seq {seq}", "128..256", str(path))


FLAG_CASES = [
    ("--up-mbps", "0"), ("--up-mbps", "-3"), ("--up-mbps", "nan"), ("--up-mbps", "inf"), ("--down-mbps", "0"),
    ("--unit-ms", "0"), ("--unit-ms", "-1"), ("--unit-ms", "nan"), ("--deadline-ms", "0"),
    ("--deadline-ms", "-5"), ("--deadline-ms", "nan"), ("--deadline-ms", "abc"), ("--delay-ms", "-1"),
    ("--seq", "0"), ("--seq", "1.5"),
]


@pytest.mark.parametrize("flag,value", FLAG_CASES)
def test_bad_scenario_flag(flag, value, capsys):
    rc, out, err = run_cli(["solve", "--model", "gpt2-like", f"{flag}={value}"], capsys)
    assert_one_line_error(rc, out, err, flag, value)


@pytest.mark.parametrize("field,value", [("deadline_ms", 0.0), ("deadline_ms", -1.0), ("up_mbps", 0.0),
                                         ("down_mbps", -2.0), ("unit_ms", 0.0), ("unit_ms", math.nan),
                                         ("delay_ms", math.inf), ("seq_len", 0), ("start", "edge"),
                                         ("objective", "joules")])
def test_bad_scenario_through_the_api(field, value):
    with pytest.raises(SplittuiError, match=field):
        Scenario(**{field: value})


def _suggested_unit(message: str) -> float:
    m = re.search(r"unit_ms ([0-9.e+-]+) or more would fit", message)
    assert m, message
    return float(m.group(1))


@pytest.mark.parametrize("deadline,unit", [(1500, 1e-5), (1500, 1e-7), (30_000, 1e-3), (1e6, 1e-300)])
def test_unit_too_small_names_a_unit_that_fits(deadline, unit, capsys):
    rc, out, err = run_cli(["solve", "--model", "gpt2-like", "--solver", "dp", "--deadline-ms", deadline,
                            "--unit-ms", unit], capsys)
    assert_one_line_error(rc, out, err, "unit_ms", "too small", "MiB")
    fit = _suggested_unit(err)
    n = load_profile("gpt2-like").n_layers
    assert f"x {n} layers" in err
    check_memory(n, deadline, fit)  # the suggestion really fits (raises otherwise)
    assert dp_memory_bytes(n, budget_units(deadline, fit)) <= DP_MEM_LIMIT_BYTES
    # and it is not wastefully coarse: 15 % finer would not fit
    assert dp_memory_bytes(n, budget_units(deadline, fit * 0.85)) > DP_MEM_LIMIT_BYTES


@pytest.mark.parametrize("n_layers,deadline,limit", [(1, 10.0, 4096), (122, 1500.0, 50 << 20),
                                                     (500, 7.0, 1 << 20), (10, 1e9, 1 << 30)])
def test_check_memory_suggestion_fits_custom_limits(n_layers, deadline, limit):
    with pytest.raises(SplittuiError) as exc:
        check_memory(n_layers, deadline, 1e-9, limit)
    fit = _suggested_unit(str(exc.value))
    check_memory(n_layers, deadline, fit, limit)


def test_bad_policy_files(tmp_path, capsys):
    not_json = tmp_path / "a.json"
    not_json.write_text("{")
    assert_one_line_error(*run_cli(["evaluate", "--policy", not_json], capsys), str(not_json), "not valid JSON")
    wrong = tmp_path / "b.json"
    wrong.write_text(json.dumps({"schema": "splittui.profile/1"}))
    assert_one_line_error(*run_cli(["evaluate", "--policy", wrong], capsys), str(wrong), "splittui.policy/1")
    short = tmp_path / "c.json"
    short.write_text(json.dumps({"schema": "splittui.policy/1", "model": "gpt2-like", "profile": "gpt2-like",
                                 "scenario": {}, "policy": [1, 0, 1]}))
    n = load_profile("gpt2-like").n_layers
    assert_one_line_error(*run_cli(["evaluate", "--policy", short], capsys), str(short), "policy", "3 layers", str(n))
    bits = tmp_path / "d.json"
    bits.write_text(json.dumps({"schema": "splittui.policy/1", "model": "gpt2-like", "policy": [2, 0]}))
    assert_one_line_error(*run_cli(["evaluate", "--policy", bits], capsys), str(bits), "policy", "0/1")


@CORE
@given(st.integers(1, 2000), st.floats(0.01, 1e7), st.integers(1 << 12, 1 << 32))
def test_fitting_unit_fits_and_is_not_wasteful(n_layers, deadline, limit):
    unit = fitting_unit(n_layers, deadline, limit)
    assert f"{unit:g}" == f"{float(f'{unit:.2g}'):g}"            # two significant digits, printed exactly
    assert dp_memory_bytes(n_layers, budget_units(deadline, unit)) <= limit
    finer = unit * 0.85
    if budget_units(deadline, finer) >= 1:
        assert dp_memory_bytes(n_layers, budget_units(deadline, finer)) > limit


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-10, 10**6) | st.floats() | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                 max_size=3), max_leaves=6)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


@CORE
@given(st.data())
def test_any_corrupted_document_gives_splittui_error_or_a_valid_profile(data):
    from splittui.costs import costs_for
    from splittui.profiles import profile_from_doc
    from splittui.solvers import solve_all

    layer = {"name": "a", "kind": "linear", "flops": [1.0, 2.0], "client_ms": [5.0, 9.0], "server_ms": [1.0, 1.0],
             "in_bytes": [10.0, 20.0], "mem_bytes": [1.0, 2.0]}
    doc = {"schema": "splittui.profile/1", "model": "t", "source": {"kind": "synthetic"}, "seq_lens": [8, 16],
           "output_bytes": [4.0, 4.0], "layers": [layer, dict(layer, name="b")]}
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(list(_paths(doc))))
        if not path:
            doc = data.draw(_JSON)
            continue
        node = doc
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = data.draw(_JSON)
    try:
        prof = profile_from_doc(doc, source="fuzz.json")
    except SplittuiError as exc:
        assert str(exc).startswith("fuzz.json: ") and "\n" not in str(exc)
        return
    sc = Scenario(deadline_ms=20.0, seq_len=prof.seq_lens[0], objective=data.draw(st.sampled_from(
        ("flops", "mem_bytes", "server_ms"))))
    try:
        costs_for(prof, sc)
        solve_all(prof, sc)
    except SplittuiError:
        pass


def test_absurdly_small_unit_is_one_line_not_an_overflow(capsys):
    """deadline/unit overflows to inf: the DP table is unbounded; a one-line error, not an OverflowError."""
    assert_one_line_error(*run_cli(["solve", "--model", "gpt2-like", "--unit-ms", "1e-308", "--deadline-ms", "1e10"],
                                   capsys), "unit_ms", "unbounded memory")

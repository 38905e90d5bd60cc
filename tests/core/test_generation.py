"""Generation (issue 12, SPEC §8): decode costs, the composite chain, TTFT/TPOT limits, server memory.

The oracle here re-derives each phase from SPEC §8 directly: the prefill chain at s (costs_for, the
§3 code), then every decode step t at context s+t on its own, with its per-layer costs linearly
interpolated by numpy's np.interp and its latency by the plain-Python SPEC §3 formula; nothing of
splittui.generation or the solvers' composite chain is used.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace

import numpy as np
import pytest
from cli_runner import run_cli
from core_strategies import CORE, meets_spec, spec_latency
from hypothesis import given, settings
from hypothesis import strategies as st
from test_bad_input import assert_one_line_error

from splittui.costs import Costs, costs_for
from splittui.generation import decode_sum, predict_request
from splittui.model import Scenario
from splittui.profiles import load_profile, profile_from_doc
from splittui.solvers import SOLVERS, solve, solve_all, solve_costs

GEN = settings(CORE, max_examples=40)   # each example solves with every solver and enumerates 2^L
DEC = ("dec_flops", "dec_client_ms", "dec_server_ms", "dec_in_bytes")
LIMITS = [(False, False), (True, False), (False, True), (True, True)]


@st.composite
def gen_docs(draw, max_layers: int = 6) -> dict:
    """A random profile with 2-3 sequence lengths and random decode fields and memory."""
    L = draw(st.integers(1, max_layers))
    lens = sorted(draw(st.sets(st.integers(2, 40), min_size=2, max_size=3)))
    n = len(lens)
    num = lambda hi: st.floats(0, hi, allow_nan=False, allow_subnormal=False).map(lambda v: round(v, 3))  # noqa: E731
    arr = lambda hi: st.lists(num(hi), min_size=n, max_size=n)  # noqa: E731
    layers = []
    for i in range(L):
        layer = {"name": f"l{i}", "kind": draw(st.sampled_from(("linear", "attention"))), "flops": draw(arr(1e6)),
                 "client_ms": draw(arr(40.0)), "server_ms": draw(arr(5.0)), "in_bytes": draw(arr(2e5)),
                 "dec_flops": draw(arr(1e4)), "dec_client_ms": draw(arr(4.0)), "dec_server_ms": draw(arr(1.0)),
                 "dec_in_bytes": draw(arr(1e3)), "weight_bytes": [draw(num(1e6))] * n,
                 "kv_bytes": [draw(num(1e3))] * n}
        layers.append(layer)
    return {"schema": "splittui.profile/1", "model": "rand-gen", "source": {"kind": "synthetic"},
            "seq_lens": lens, "output_bytes": draw(arr(1e4)), "dec_output_bytes": draw(arr(1e3)), "layers": layers}


@st.composite
def gen_cases(draw):
    doc = draw(gen_docs())
    prof = profile_from_doc(doc)
    lo, hi = prof.seq_range
    s = draw(st.integers(lo, hi))
    n = draw(st.integers(0, min(7, hi - s + 2)))   # SPEC §8: N tokens reach context s + N − 2
    sc = Scenario(deadline_ms=1.0, up_mbps=draw(st.sampled_from((1.0, 8.0, 100.0))),
                  returns=draw(st.sampled_from(("auto", "auto", "logits", "token", "topk:3"))),
                  delay_ms=draw(st.sampled_from((0.0, 2.0, 10.0))), seq_len=s, gen_tokens=n,
                  unit_ms=draw(st.sampled_from((0.5, 1.0, 2.5))),
                  start=draw(st.sampled_from(("client", "server"))), end=draw(st.sampled_from(("client", "server"))))
    return doc, prof, sc


def _returned(sc: Scenario, logits: float) -> float:
    """SPEC §8: a step returns the sampled token's id (4 bytes) unless the scenario asks for the logits."""
    if sc.returns == "logits" or (sc.returns == "auto" and sc.gen_tokens == 0):
        return logits
    return 8.0 * int(sc.returns.split(":")[1]) if sc.returns.startswith("topk:") else 4.0


def _step_costs(doc: dict, sc: Scenario, c: int) -> Costs:
    """One decode step at context c, straight from the document (np.interp between samples)."""
    lens = doc["seq_lens"]
    at = lambda vals: float(np.interp(c, lens, vals))  # noqa: E731
    get = lambda f: np.array([at(layer[f]) for layer in doc["layers"]])  # noqa: E731
    in_b, out_b = get("dec_in_bytes"), _returned(sc, at(doc["dec_output_bytes"]))
    up, down = 8.0 / (sc.up_mbps * 1e3), 8.0 / (sc.down_mbps * 1e3)
    return Costs(client_ms=get("dec_client_ms"), server_ms=get("dec_server_ms"), up_ms=sc.delay_ms + in_b * up,
                 down_ms=sc.delay_ms + in_b * down, reward=get("dec_flops"), up_out_ms=sc.delay_ms + out_b * up,
                 down_out_ms=sc.delay_ms + out_b * down, start_client=sc.start == "client",
                 end_client=sc.end == "client", deadline_ms=1.0)


def oracle_phases(doc: dict, prof, sc: Scenario):
    """For every policy: (ttft, total decode latency, client reward), per SPEC §8, by brute force."""
    pre = costs_for(prof, sc.replace(ttft_ms=None, tpot_ms=None))   # §3 at s, the first token's return
    steps = [_step_costs(doc, sc, sc.seq_len + t) for t in range(max(sc.gen_tokens - 1, 0))]   # N − 1 steps
    out = {}
    for x in itertools.product((0, 1), repeat=prof.n_layers):
        ttft = spec_latency(pre, x)
        dec = sum(spec_latency(c, x) for c in steps)
        rew = sum(float(pre.reward[i]) + sum(float(c.reward[i]) for c in steps) for i, v in enumerate(x) if v)
        out[x] = (ttft, dec, rew)
    return out


def _meets_all(v, sc: Scenario) -> bool:
    ttft, dec, _ = v
    ok = meets_spec(ttft + dec, sc.deadline_ms)
    if sc.ttft_ms is not None:
        ok = ok and meets_spec(ttft, sc.ttft_ms)
    if sc.tpot_ms is not None and sc.gen_tokens > 1:
        ok = ok and meets_spec(dec / (sc.gen_tokens - 1), sc.tpot_ms)
    return ok


def _limited(sc: Scenario, orc, data, limits) -> Scenario:
    """Draw a deadline and the chosen limits around the range the policies reach."""
    tt = sorted(v[0] for v in orc.values())
    tot = sorted(v[0] + v[1] for v in orc.values())
    per = sorted(v[1] / max(sc.gen_tokens - 1, 1) for v in orc.values())
    pick = lambda vals: data.draw(st.floats(max(vals[0] * 0.95, 0.01), max(vals[-1] * 1.02, 0.02)))  # noqa: E731
    deadline = pick(tot)
    ttft = min(pick(tt), deadline) if limits[0] else None
    tpot = pick(per) if limits[1] else None
    return sc.replace(deadline_ms=deadline, ttft_ms=ttft, tpot_ms=tpot)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


@pytest.mark.parametrize("limits", LIMITS, ids=["none", "ttft", "tpot", "both"])
@GEN
@given(case=gen_cases(), data=st.data())
def test_every_solver_against_brute_force(limits, case, data):
    doc, prof, sc = case
    orc = oracle_phases(doc, prof, sc)
    sc = _limited(sc, orc, data, limits)
    ok = {x: v for x, v in orc.items() if _meets_all(v, sc)}
    best = max((v[2] for v in ok.values()), default=-math.inf)
    results = solve_all(prof, sc, [s for s in SOLVERS if s != "brute-force"] + ["brute-force"])
    for name, r in results.items():
        if r.policy is None:
            if name in ("exact", "brute-force"):
                assert not ok, (name, "missed a feasible policy")
            continue
        v = orc[r.policy]
        assert _close(r.ttft_ms, v[0]) and _close(r.latency_ms, v[0] + v[1]), name
        if sc.gen_tokens > 1:
            assert _close(r.tpot_ms, v[1] / (sc.gen_tokens - 1)), name
        assert r.feasible == _meets_all(v, sc), (name, r.violations)   # never feasible when breaking a limit
        assert r.feasible == (not r.violations), name
        if name in ("exact", "brute-force"):
            assert r.feasible and math.isclose(v[2], best, rel_tol=1e-9, abs_tol=1e-6), (name, v[2], best)
        elif r.feasible:
            assert v[2] <= best * (1 + 1e-9) + 1e-6


@GEN
@given(case=gen_cases())
def test_zero_tokens_is_the_prefill_problem_bit_for_bit(case):
    _, prof, sc = case
    sc = sc.replace(gen_tokens=0, deadline_ms=50.0)
    c = costs_for(prof, sc)
    for name in SOLVERS:
        new, old = solve(prof, sc, name), solve_costs(c, sc, name)
        for f in old.__dataclass_fields__:
            if f in ("solve_ms", "ttft_ms", "tpot_ms", "server_mem_bytes", "violations", "client_mem_need_bytes",
                     "server_mem_need_bytes", "client_energy_j", "client_energy_parts", "client_j_per_token",
                     "server_energy_j"):   # annotations of the request path (SPEC §8, §10, docs/energy.md)
                continue
            assert getattr(new, f) == getattr(old, f), (name, f)
        assert new.tpot_ms is None and new.ttft_ms == new.latency_ms


@CORE
@given(lens=st.sets(st.integers(1, 200), min_size=1, max_size=6), data=st.data())
def test_decode_sum_is_the_sum_of_linear_interpolation(lens, data):
    k = tuple(sorted(lens))
    vals = np.array(data.draw(st.lists(st.floats(-1e3, 1e3, allow_subnormal=False), min_size=len(k), max_size=len(k))))
    first = data.draw(st.integers(k[0], k[-1]))
    count = data.draw(st.integers(0, k[-1] - first + 1))
    want = sum(float(np.interp(c, k, vals)) for c in range(first, first + count))
    assert math.isclose(float(decode_sum(k, vals, first, count)), want, rel_tol=1e-9, abs_tol=1e-6)


@GEN
@given(case=gen_cases(), data=st.data())
def test_server_mem_objective_counts_weights_and_kv_at_s_plus_n(case, data):
    doc, prof, sc = case
    sc = sc.replace(objective="server_mem", deadline_ms=1e9)
    x = tuple(data.draw(st.lists(st.integers(0, 1), min_size=prof.n_layers, max_size=prof.n_layers)))
    want = sum(layer["weight_bytes"][0] + layer["kv_bytes"][0] * (sc.seq_len + max(sc.gen_tokens - 1, 0))
               for layer, v in zip(doc["layers"], x) if v == 0)
    times = predict_request(prof, sc, x)
    assert math.isclose(times.server_mem_bytes, want, rel_tol=1e-9, abs_tol=1e-6)
    res = solve(prof, sc, "exact")
    assert math.isclose(res.server_load, 0.0, abs_tol=1e-6) or res.policy != (1,) * prof.n_layers


# ----- shipped profile, CLI and bad input ---------------------------------------------------------

def test_shipped_gpt2_has_decode_fields():
    p = load_profile("gpt2-like")
    assert p.has_decode and p.has_server_mem
    core = next(layer for layer in p.layers if layer.kind == "attention")
    assert core.dec_flops[-1] > core.dec_flops[0] and core.kv_bytes[0] > 0


def test_done_when_solve_json(capsys):
    rc, out, err = run_cli(["solve", "--model", "gpt2-like", "--seq", 512, "--gen-tokens", 256, "--tpot-ms", 80,
                            "--deadline-ms", 30000, "--up-mbps", 100, "--json"], capsys)
    assert rc == 0, err
    docs = json.loads(out)
    assert {d["solver"] for d in docs} >= {"dp", "exact", "greedy", "single-split", "no-split", "all-client"}
    for d in docs:
        assert d["scenario"]["gen_tokens"] == 256
        if d["policy"] is not None:
            assert d["ttft_ms"] > 0 and d["tpot_ms"] > 0 and d["latency_ms"] > d["ttft_ms"]
            assert d["feasible"] == (not d["violations"])
            assert not d["feasible"] or d["tpot_ms"] <= 80 * (1 + 1e-9)


def test_solve_table_shows_generation_columns(capsys):
    rc, out, err = run_cli(["solve", "--model", "gpt2-like", "--seq", 512, "--gen-tokens", 16, "--ttft-ms", 1000,
                            "--deadline-ms", 5000], capsys)
    assert rc == 0, err
    assert "TTFT" in out and "TPOT" in out and "request" in out


@pytest.mark.parametrize("argv, needle", [
    (["--gen-tokens", "-1"], "--gen-tokens"),
    (["--gen-tokens", "1.5"], "--gen-tokens"),
    (["--ttft-ms", "2000", "--deadline-ms", "1500"], "--ttft-ms"),
    (["--seq", "4096", "--gen-tokens", "10"], "gen_tokens"),
])
def test_bad_generation_flags(argv, needle, capsys):
    rc, out, err = run_cli(["solve", "--model", "gpt2-like", *argv], capsys)
    assert_one_line_error(rc, out, err, needle)


@pytest.mark.parametrize("field", [*DEC, "weight_bytes", "kv_bytes", "dec_output_bytes"])
def test_decode_field_of_wrong_length(field, tmp_path, capsys):
    doc = json.loads(json.dumps(_small_doc()))
    target = doc if field == "dec_output_bytes" else doc["layers"][1]
    target[field] = target[field][:-1]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    rc, out, err = run_cli(["solve", "--profile", path, "--gen-tokens", 2], capsys)
    assert_one_line_error(rc, out, err, field, "p.json")


def test_profile_without_decode_fields(tmp_path, capsys):
    doc = _small_doc()
    for layer in doc["layers"]:
        for f in DEC:
            del layer[f]
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    rc, out, err = run_cli(["solve", "--profile", path, "--gen-tokens", 2], capsys)
    assert_one_line_error(rc, out, err, "decode")


def _small_doc() -> dict:
    lay = lambda i: {"name": f"l{i}", "kind": "linear", "flops": [1.0, 2.0], "client_ms": [1.0, 2.0],  # noqa: E731
                     "server_ms": [0.1, 0.2], "in_bytes": [10.0, 20.0], "dec_flops": [1.0, 1.0],
                     "dec_client_ms": [0.5, 0.6], "dec_server_ms": [0.1, 0.1], "dec_in_bytes": [5.0, 5.0],
                     "weight_bytes": [100.0, 100.0], "kv_bytes": [0.0, 0.0]}
    return {"schema": "splittui.profile/1", "model": "small", "seq_lens": [8, 64], "output_bytes": [4.0, 4.0],
            "dec_output_bytes": [4.0, 4.0], "layers": [lay(i) for i in range(3)]}


def test_profile_round_trip_keeps_decode_fields():
    from splittui.profiles import profile_to_doc

    p = profile_from_doc(_small_doc())
    assert profile_from_doc(profile_to_doc(p)).layers == p.layers
    assert replace(p).dec_output_bytes == (4.0, 4.0)

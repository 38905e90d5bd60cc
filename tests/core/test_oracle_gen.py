"""splittui against the independent §8 oracle (tests/core/oracle_gen.py, no splittui code) on random
profile documents with decode fields: phase_costs term by term, request_times, evaluate, and what every
solver reports (TTFT, TPOT, request latency, server memory, limit checks and optimality).

The documents have 1-4 sequence lengths (decode samples constant, linear or arbitrary, weights and KV
varying with the length); the requests start anywhere in the range and often run across a sample
point; links are asymmetric or equal, the delay zero or not, every objective, every `returns`, with
and without an "arch" key (which turns "auto" into the token id).
"""

from __future__ import annotations

import math
import random

import oracle as O
import oracle_gen as G
import pytest
from core_strategies import CORE
from hypothesis import given, settings
from hypothesis import strategies as st

import splittui.model
from splittui.errors import SplittuiError
from splittui.generation import phase_costs, request_times
from splittui.model import Scenario
from splittui.profiles import profile_from_doc
from splittui.solvers import SOLVERS, evaluate, solve_all

_N = settings.default.max_examples        # the hypothesis profile's (conftest.py): core 60, bench 600, mutation 20
GEN = settings(CORE, max_examples=_N // 2 if _N >= 60 else _N)   # each example enumerates 2^L policies
HAS_RETURNS = "returns" in Scenario.__dataclass_fields__
# A tree from before SPEC §8's counting landed (N decode steps; benchmarks/mutation.sh checks such a copy)
LEGACY = not hasattr(splittui.model, "decode_steps")
OBJECTIVES = ("flops", "server_ms", "mem_bytes", "server_mem")
_SCALE = {"flops": 1e9, "client_ms": 60.0, "server_ms": 8.0, "in_bytes": 4e6, "mem_bytes": 1e8,
          "dec_flops": 1e7, "dec_client_ms": 6.0, "dec_server_ms": 0.8, "dec_in_bytes": 2e4,
          "weight_bytes": 1e8, "kv_bytes": 1e4, "output_bytes": 4e6, "dec_output_bytes": 4e5}
_FIELDS = ("flops", "client_ms", "server_ms", "in_bytes", "mem_bytes", "dec_flops", "dec_client_ms",
           "dec_server_ms", "dec_in_bytes", "weight_bytes", "kv_bytes")


def _column(rng: random.Random, lens: list[int], hi: float) -> list[float]:
    """Samples of one cost: zero, constant, linear in the length, or arbitrary (non-monotone)."""
    kind = rng.random()
    if kind < 0.1:
        return [0.0] * len(lens)
    if kind < 0.25:
        return [round(rng.uniform(0, hi), 3)] * len(lens)
    if kind < 0.55:
        a, b = rng.uniform(0, hi), rng.uniform(0, hi)
        return [round(a + b * k / lens[-1], 3) for k in lens]
    return [0.0 if rng.random() < 0.1 else round(rng.uniform(0, hi), 3) for _ in lens]


@st.composite
def gen_docs(draw, max_layers: int = 5) -> dict:
    lens = sorted(draw(st.lists(st.integers(1, 300), min_size=1, max_size=4, unique=True)))
    L = draw(st.integers(1, max_layers))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    layers = [{"name": f"l{i}", "kind": "linear", **{f: _column(rng, lens, _SCALE[f]) for f in _FIELDS}}
              for i in range(L)]
    doc = {"schema": "splittui.profile/1", "model": "oracle-gen", "seq_lens": lens,
           "output_bytes": _column(rng, lens, _SCALE["output_bytes"]),
           "dec_output_bytes": _column(rng, lens, _SCALE["dec_output_bytes"]), "layers": layers}
    if draw(st.booleans()):
        doc["arch"] = {"family": "llama"}    # built from an LLM config: "auto" returns the token id
    return doc


@st.composite
def gen_requests(draw, doc: dict, max_tokens: int = 40) -> dict:
    """A scenario dict (deadline still to set) whose request lies in the document's range."""
    lens = doc["seq_lens"]
    lo, hi = lens[0], lens[-1]
    if len(lens) > 1 and draw(st.booleans()):           # decode steps run across a sample point
        k = lens[draw(st.integers(1, len(lens) - 1))]
        s = draw(st.integers(max(lo, k - 15), k))
        steps = draw(st.integers(k - s + 1, min(hi - s + 1, k - s + max_tokens)))
    else:
        s = draw(st.integers(lo, hi))
        steps = draw(st.integers(0, min(hi - s + 1, max_tokens)))
    # N output tokens = the prefill's first + N − 1 steps (N = 0 and N = 1: no step); legacy: N steps
    n = steps if LEGACY else steps + 1 if steps else draw(st.sampled_from((0, 1)))
    up = draw(st.floats(0.5, 1000.0))
    sc = {"up_mbps": up, "down_mbps": draw(st.one_of(st.just(up), st.floats(0.5, 1000.0))),
          "delay_ms": draw(st.one_of(st.just(0.0), st.floats(0.0, 30.0))), "seq_len": s, "gen_tokens": n,
          "start": draw(st.sampled_from(("client", "server"))), "end": draw(st.sampled_from(("client", "server"))),
          "objective": draw(st.sampled_from(OBJECTIVES)), "deadline_ms": 1.0, "legacy": LEGACY}
    returns = draw(st.sampled_from(("auto", "logits", "token", "topk")))
    if returns == "topk":
        returns = f"topk:{draw(st.integers(1, 64))}"
    if HAS_RETURNS:
        sc["returns"] = returns
    return sc


@st.composite
def gen_cases(draw, max_layers: int = 5):
    doc = draw(gen_docs(max_layers))
    return doc, draw(gen_requests(doc))


def _scenario(sc: dict, **over) -> Scenario:
    keys = set(Scenario.__dataclass_fields__)
    return Scenario(**{k: v for k, v in {**sc, **over}.items() if k in keys})


def _close(a: float, b: float, scale: float = 1.0) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9 * max(1.0, abs(scale)))


def _near(value: float | None, limit: float | None) -> bool:
    """Within float noise of a limit: the verdict may go either way."""
    return value is not None and limit is not None and math.isclose(value, limit, rel_tol=1e-7, abs_tol=1e-9)


def _borderline(t: dict, sc: dict) -> bool:
    return (_near(t["latency"], sc["deadline_ms"]) or _near(t["ttft"], sc.get("ttft_ms"))
            or _near(t["tpot"], sc.get("tpot_ms")))


def _check_chain(got, want: dict, what: str) -> None:
    """A splittui Costs against an oracle chain dict, field by field."""
    for name in ("client_ms", "server_ms", "up_ms", "down_ms", "reward"):
        g, w = getattr(got, name).tolist(), want[name]
        scale = max([1.0, *(abs(v) for v in w)])
        assert len(g) == len(w), (what, name)
        for i, (a, b) in enumerate(zip(g, w, strict=True)):
            assert _close(a, b, scale), (what, name, i, a, b)
    for name in ("up_out_ms", "down_out_ms"):
        assert _close(getattr(got, name), want[name], want[name]), (what, name, getattr(got, name), want[name])
    assert (got.start_client, got.end_client) == (want["start_client"], want["end_client"]), what


def _check_times(got, want: dict, what) -> None:
    lat = want["latency"]
    assert _close(got.ttft_ms, want["ttft"], lat), (what, "ttft", got.ttft_ms, want["ttft"])
    assert _close(got.latency_ms, lat, lat), (what, "latency", got.latency_ms, lat)
    if want["tpot"] is None:
        assert got.tpot_ms is None, what
    else:
        assert _close(got.tpot_ms, want["tpot"], want["tpot"]), (what, "tpot", got.tpot_ms, want["tpot"])
    if want["server_mem"] is not None:
        assert _close(got.server_mem_bytes, want["server_mem"], want["server_mem"]), (what, "server_mem")


# ----- the phases, term by term ---------------------------------------------------------------------

@GEN
@given(gen_cases())
def test_phase_costs_term_by_term(case):
    doc, sc = case
    ph = phase_costs(profile_from_doc(doc), _scenario(sc))
    st_list = G.steps(doc, sc)
    _check_chain(ph.prefill, G.prefill(doc, sc), "prefill")
    dec = G.decode_total(doc, sc, st_list)
    if dec is None:
        assert G.n_steps(sc) == 0 and ph.decode is None
    else:
        _check_chain(ph.decode, dec, "decode")
    assert ph.gen_tokens == sc["gen_tokens"]
    _check_chain(ph.composite(), G.composite(doc, sc, st_list), "composite")
    mem = G.server_mem(doc, sc)
    scale = max([1.0, *mem])
    assert all(_close(a, b, scale) for a, b in zip(ph.mem.tolist(), mem, strict=True)), (ph.mem, mem)


@GEN
@given(gen_cases(), st.data())
def test_request_times_and_evaluate_match_the_oracle(case, data):
    doc, sc = case
    prof = profile_from_doc(doc)
    L = len(doc["layers"])
    x = tuple(data.draw(st.lists(st.integers(0, 1), min_size=L, max_size=L)))
    st_list = G.steps(doc, sc)
    want = G.times(doc, sc, x, st_list)
    # the oracle's own two routes agree: summing step latencies = the latency of the summed chain
    assert _close(O.latency(G.composite(doc, sc, st_list), x), want["latency"], want["latency"])
    ph = phase_costs(prof, _scenario(sc))
    got = request_times(ph, x)
    _check_times(got, want, "request_times")
    assert _close(got.decode_ms, want["decode"], want["latency"])
    # limits around this policy's own times, each one met or broken
    lam = max(want["latency"] * data.draw(st.floats(0.8, 1.3)), 0.01)
    ttft = data.draw(st.one_of(st.none(), st.floats(0.8, 1.3).map(lambda f: min(max(want["ttft"] * f, 0.01), lam))))
    tpot = data.draw(st.one_of(st.none(), st.floats(0.8, 1.3).map(lambda f: max((want["tpot"] or 1.0) * f, 0.01))))
    sc = {**sc, "deadline_ms": lam, "ttft_ms": ttft, "tpot_ms": tpot}
    res = evaluate(prof, _scenario(sc), x)
    _check_times(res, want, "evaluate")
    assert res.policy == x
    if not _borderline(want, sc):
        breaks = G.limit_breaks(want, sc)
        assert res.feasible == (not breaks), (res.violations, breaks)
        said = {"deadline" if v.startswith("latency") else v.split()[0].lower() for v in res.violations}
        assert said == breaks, (res.violations, breaks)


def _limits(doc: dict, sc: dict, table: dict, data) -> dict:
    """A deadline around the least request latency, and TTFT / TPOT limits (or none) around the ranges
    the policies reach."""
    lats = sorted(t["latency"] for t in table.values())
    lam = max(lats[0] * data.draw(st.floats(0.7, 3.0)), 0.01)
    ttft = tpot = None
    if data.draw(st.booleans()):
        tt = sorted(t["ttft"] for t in table.values())
        ttft = min(max(data.draw(st.floats(tt[0] * 0.95, tt[-1] * 1.02 + 1e-6)), 0.01), lam)
    if G.n_steps(sc) and data.draw(st.booleans()):
        tp = sorted(t["tpot"] for t in table.values())
        tpot = max(data.draw(st.floats(tp[0] * 0.95, tp[-1] * 1.02 + 1e-6)), 0.01)
    return {**sc, "deadline_ms": lam, "ttft_ms": ttft, "tpot_ms": tpot}


def _reward(k: dict, x) -> float:
    return sum(r for r, v in zip(k["reward"], x, strict=True) if v == 1)


@GEN
@given(gen_cases(max_layers=4), st.data())
def test_every_solver_reports_the_oracle_numbers(case, data):
    doc, sc = case
    L = len(doc["layers"])
    st_list = G.steps(doc, sc)
    table = {x: G.times(doc, sc, x, st_list) for x in G.policies(L)}
    sc = _limits(doc, sc, table, data)
    k = G.composite(doc, sc, st_list)
    lam, total = sc["deadline_ms"], sum(k["reward"])
    unit = max(lam / data.draw(st.integers(20, 400)), 1e-3)
    prof = profile_from_doc(doc)
    results = solve_all(prof, _scenario(sc, unit_ms=unit), SOLVERS)
    border = any(_borderline(t, sc) for t in table.values())
    best = G.best_reward_all_limits(k, sc, table)
    for name, res in results.items():
        assert _close(res.min_latency_ms, O.min_latency(k), O.min_latency(k)), name
        assert _close(res.total_load, total, total), name
        assert res.feasible == (not res.violations), (name, res.violations)
        if res.policy is None:
            assert not res.feasible, name
            continue
        t = table[res.policy]
        _check_times(res, t, name)
        assert _close(res.server_load, total - _reward(k, res.policy), total), name
        assert O.meets(t["latency"], lam * (1 + 1e-9)) or not res.feasible, name
        if not _borderline(t, sc):
            assert res.feasible == G.meets_limits(t, sc), (name, res.violations, G.limit_breaks(t, sc))
        if res.feasible and best is not None:
            assert _reward(k, res.policy) <= best + 1e-9 * max(1.0, total), name
    if border:
        return
    for name in ("exact", "brute-force"):
        assert results[name].feasible == (best is not None), (name, results[name].violations)
        if best is not None:
            assert _close(_reward(k, results[name].policy), best, total), (name, best)
    assert results["greedy"].policy == O.greedy(k, lam)
    ss = O.single_split_reward(k, lam)
    assert (results["single-split"].policy is None) == (ss is None)
    if ss is not None:
        assert _close(_reward(k, results["single-split"].policy), ss, total)
    for name, x in (("no-split", (0,) * L), ("all-client", (1,) * L)):
        assert results[name].feasible == G.meets_limits(table[x], sc), name
    if sc["ttft_ms"] is None and sc["tpot_ms"] is None:
        lower = O.best_reward(k, lam - (2 * L + 2) * unit)
        if lower is not None:
            assert results["dp"].feasible and _reward(k, results["dp"].policy) >= lower - 1e-9 * max(1.0, total)


@GEN
@given(gen_docs(max_layers=2), st.data())
def test_contexts_outside_the_profile_are_an_error(doc, data):
    lens = doc["seq_lens"]
    s = data.draw(st.integers(max(1, lens[0] - 3), lens[-1] + 3))
    n = data.draw(st.integers(0, lens[-1] - lens[0] + 5))
    sc = {"up_mbps": 10.0, "delay_ms": 1.0, "seq_len": s, "gen_tokens": n, "start": "client", "end": "client",
          "objective": "flops", "deadline_ms": 1e9, "legacy": LEGACY}
    prof = profile_from_doc(doc)
    if G.in_range(doc, sc):
        phase_costs(prof, _scenario(sc))
    else:
        with pytest.raises(SplittuiError):
            phase_costs(prof, _scenario(sc))


def test_oracle_on_a_hand_computed_request():
    """The oracle itself, on numbers worked out by hand (so it cannot drift along with splittui)."""
    layer = {"client_ms": [4.0, 4.0], "server_ms": [1.0, 1.0], "in_bytes": [1000.0, 1000.0],
             "flops": [10.0, 10.0], "mem_bytes": [0.0, 0.0], "dec_flops": [1.0, 3.0], "dec_client_ms": [1.0, 3.0],
             "dec_server_ms": [0.5, 0.5], "dec_in_bytes": [100.0, 300.0], "weight_bytes": [50.0, 50.0],
             "kv_bytes": [2.0, 4.0]}
    doc = {"seq_lens": [10, 12], "output_bytes": [2000.0, 2000.0], "dec_output_bytes": [200.0, 400.0],
           "layers": [layer]}
    # 8 Mbit/s up = 1000 byte/ms, 16 Mbit/s down = 2000 byte/ms, delay 1 ms
    # 4 output tokens: the prefill's, then 3 decode steps at contexts 10, 11, 12
    sc = {"up_mbps": 8.0, "down_mbps": 16.0, "delay_ms": 1.0, "seq_len": 10, "gen_tokens": 4, "start": "client",
          "end": "client", "objective": "flops", "deadline_ms": 100.0, "returns": "logits"}
    assert G.contexts(sc) == [10, 11, 12] and G.contexts({**sc, "legacy": True, "gen_tokens": 3}) == [10, 11, 12]
    assert G.lin([10, 12], [1.0, 3.0], 11) == 2.0
    s11 = G.step(doc, sc, 11)    # dec_in 200 B, logits 300 B
    assert s11["client_ms"] == [2.0] and s11["up_ms"] == [1.2] and s11["down_ms"] == [1.1]
    assert s11["down_out_ms"] == 1.15 and s11["reward"] == [2.0]
    # x = (0,): server runs it; prefill: up 1+1, server 1, logits down 1+1 = 5
    t = G.times(doc, sc, (0,))
    assert t["ttft"] == 5.0
    # steps at 10, 11, 12: up 1.1/1.2/1.3, server 0.5 each, down 1.1/1.15/1.2 -> 1.6+... = 7.05
    assert math.isclose(t["decode"], (1.1 + 0.5 + 1.1) + (1.2 + 0.5 + 1.15) + (1.3 + 0.5 + 1.2))
    assert math.isclose(t["tpot"], t["decode"] / 3) and math.isclose(t["latency"], 5.0 + t["decode"])
    # server memory: weights 50 + kv at the last context 12 (4 B/token) x (s+N-1 = 13 tokens)
    assert t["server_mem"] == 50.0 + 4.0 * 13
    # the token id instead of the logits: 4 bytes down, both in the prefill and in every step
    tok = G.times(doc, {**sc, "returns": "token"}, (0,))
    assert math.isclose(tok["ttft"], 2.0 + 1.0 + 1.0 + 4 / 2000)
    assert G.answer_bytes(doc, {**sc, "returns": "topk:5"}, 123.0) == 40.0
    assert G.returns_kind({"arch": {}}, {}) == ("token", 0) and G.returns_kind({}, {}) == ("logits", 0)
    assert G.returns_kind({}, {"gen_tokens": 1}) == ("token", 0)          # a generating request: the token
    assert G.n_steps({"gen_tokens": 1}) == 0 and G.times(doc, {**sc, "gen_tokens": 1}, (0,))["tpot"] is None
    # limits: TPOT 2.4 > 2.3 is broken, TTFT 5 <= 5 met
    assert G.limit_breaks(t, {**sc, "ttft_ms": 5.0, "tpot_ms": 2.3}) == {"tpot"}
    k = G.composite(doc, sc)
    assert math.isclose(O.latency(k, (0,)), t["latency"]) and math.isclose(k["reward"][0], 10.0 + 1.0 + 2.0 + 3.0)

"""Memory limits and pins (SPEC §10): exact solvers vs brute force, baselines, pins by name, documents,
and the weight bytes against accelerate's module sizes."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from splittui.costs import Costs, latency
from splittui.hf_config import weight_bits
from splittui.memory import RESERVE_FIXED_BYTES, RESERVE_FRACTION, MemRows, reserve_bytes
from splittui.model import Scenario
from splittui.solvers.constrained import constrained_brute_force, constrained_dp, constrained_exact, fits


@st.composite
def chains(draw):
    n = draw(st.integers(2, 8))
    f = st.floats(0.0, 50.0, allow_nan=False)
    arr = lambda: np.array(draw(st.lists(f, min_size=n, max_size=n)))  # noqa: E731
    c = Costs(client_ms=arr(), server_ms=arr(), up_ms=arr(), down_ms=arr(), reward=arr(),
              up_out_ms=draw(f), down_out_ms=draw(f), start_client=draw(st.booleans()),
              end_client=draw(st.booleans()), deadline_ms=draw(st.floats(1.0, 400.0)))
    held = np.array(draw(st.lists(st.integers(0, 100), min_size=n, max_size=n)), dtype=float)
    act = np.array(draw(st.lists(st.integers(0, 20), min_size=n, max_size=n)), dtype=float)
    tied = None
    if draw(st.booleans()):
        shared = float(draw(st.integers(0, 50)))
        held[0] += shared
        held[-1] += shared
        tied = (0, n - 1, shared)
    # a limit whose budget (limit − reserve: 1 GiB + 10 %) is 1-600 bytes, so the limits bind in these chains
    lim = lambda: draw(st.one_of(st.none(), st.integers(1, 600).map(limit_for)))  # noqa: E731
    mem = MemRows(weights=held, kv=np.zeros(n), act=act, tied=tied, limit=(lim(), lim()))
    pin = None
    if draw(st.booleans()):
        pin = np.array(draw(st.lists(st.sampled_from((-1, -1, 0, 1)), min_size=n, max_size=n)), dtype=np.int8)
    return replace(c, mem=mem if mem.active else None, pin=pin)


def limit_for(budget: float) -> float:
    """A limit whose budget (limit − reserve: 1 GiB + 10 %) is `budget` bytes: limit − (R + f·limit) = budget."""
    limit = (budget + RESERVE_FIXED_BYTES) / (1.0 - RESERVE_FRACTION)
    assert limit - reserve_bytes(limit) == pytest.approx(budget, abs=1e-3)
    return limit


def meets(c: Costs, x) -> bool:
    """Policy x keeps the pins, fits the memory limits and meets the deadline (SPEC, from first principles)."""
    xa = np.array(x, dtype=np.int8)
    if c.pin is not None and ((c.pin >= 0) & (c.pin != xa)).any():
        return False
    if c.mem is not None and not fits(c.mem, xa):
        return False
    return latency(c, xa) <= c.deadline_ms + 1e-9 * max(1.0, c.deadline_ms)


def reward(c: Costs, x) -> float:
    return float(c.reward @ np.array(x, dtype=float))


def exact_matches_brute_force(c: Costs) -> tuple[int, ...] | None:
    """Assert that exact answers iff brute force does, with a feasible policy of the same reward; brute force's."""
    lims = (math.inf, math.inf, c.deadline_ms + 1e-9 * max(1.0, c.deadline_ms))
    want = constrained_brute_force(c, None, c, lims)
    got = constrained_exact(c, None, c)
    assert (got is None) == (want is None)
    if want is not None:
        assert meets(c, got)
        assert reward(c, got) == pytest.approx(reward(c, want), rel=1e-12, abs=1e-9)
    return want


@settings(max_examples=150, deadline=None)
@given(chains())
def test_exact_matches_brute_force(c):
    exact_matches_brute_force(c)


@settings(max_examples=150, deadline=None)
@given(chains())
def test_a_capped_search_returns_a_feasible_policy_and_a_valid_bound(c):
    """Where the label search passes its cap (forced here: a cap of 1 label), exact answers with the best
    feasible policy it found, says it is not proven optimal, and the bound it states holds: the optimum's
    server share (brute force) is at least the bound and at most the answer's."""
    import re

    from splittui.solvers import constrained

    lims = (math.inf, math.inf, c.deadline_ms + 1e-9 * max(1.0, c.deadline_ms))
    want = constrained_brute_force(c, None, c, lims)
    cap, constrained.MAX_LABELS = constrained.MAX_LABELS, 1
    try:
        got, note = constrained_exact(c, None, c), None
    except constrained.SearchCapped as exc:
        got, note = exc.policy, exc.note
    finally:
        constrained.MAX_LABELS = cap
    if got is not None:
        assert meets(c, got)
        tol = 1e-9 * max(1.0, float(c.reward.sum()))
        assert float(c.reward @ np.array(got)) <= float(c.reward @ np.array(want)) + tol
    if note is None:   # finished under the cap: exact as ever
        assert (got is None) == (want is None)
        return
    assert "not proven optimal" in note
    total = float(c.reward.sum())
    m = re.search(r"at least (-?[\d.]+) %", note)
    if want is not None and m is not None and total > 0:
        best_share = 100 * (total - float(c.reward @ np.array(want))) / total
        assert float(m.group(1)) <= best_share + 0.01      # the note rounds to 0.01 %


@settings(max_examples=80, deadline=None)
@given(chains(), st.sampled_from((1.0, 3.0, 7.5)))
def test_dp_is_feasible_and_optimal_on_its_integer_chain(c, unit):
    from splittui.solvers.dp import integerise

    x = constrained_dp(c, unit)
    it = integerise(c, unit)
    ci = replace(c, client_ms=it.c.astype(float), server_ms=it.s.astype(float), up_ms=it.u.astype(float),
                 down_ms=it.d.astype(float), up_out_ms=float(it.u_out), down_out_ms=float(it.d_out),
                 deadline_ms=float(it.W))
    want = constrained_brute_force(ci, None, ci, (math.inf, math.inf, float(it.W)))
    assert (x is None) == (want is None)
    if x is not None:
        assert meets(c, x)   # rounded up: the integer-feasible policy really meets the deadline
        assert float(c.reward @ np.array(x)) == pytest.approx(float(c.reward @ np.array(want)), abs=1e-9)


def test_reserve_and_bits():
    assert reserve_bytes(None) == 0.0
    assert reserve_bytes(10e9) == pytest.approx(2 ** 30 + 1e9)
    assert [weight_bits(d) for d in ("fp32", "fp16", "bf16", "int8", "int4")] == [32, 16, 16, 8.5, 4.5]


def test_tied_matrix_counted_once_per_side():
    from splittui.llm import profile_for
    from splittui.memory import memory_breakdown

    p = profile_for("llama-3.2-1b", seq_lens=(128, 256))
    sc = Scenario(seq_len=128)
    n = p.n_layers
    client, _ = memory_breakdown(p, sc, (1,) * n)
    split = (1,) + (0,) * (n - 1)
    c2, s2 = memory_breakdown(p, sc, split)
    shared = p.layers[-1].weight_bytes[0]
    assert c2.weights + s2.weights == pytest.approx(client.weights + shared)
    assert client.weights / 2 ** 30 == pytest.approx(2.30, abs=0.02)   # 1.24B params bf16, measured 2.30 GiB


def test_pins_by_name():
    from splittui.llm import profile_for
    from splittui.pins import parse_pins

    p = profile_for("llama-3.2-1b", seq_lens=(128,))
    names = [layer.name for layer in p.layers]
    assert [names[i] for i in parse_pins(p, "embed,head")] == ["embed", "ln_f", "lm_head"]
    assert all(names[i].startswith("h0.") for i in parse_pins(p, "first:1"))
    assert parse_pins(p, "h3") == parse_pins(p, "h3")
    assert parse_pins(p, "2-4") == (2, 3, 4)
    from splittui.errors import SplittuiError

    with pytest.raises(SplittuiError):
        parse_pins(p, "nope")


def test_scenario_dict_omits_unset_and_keeps_set():
    assert "client_mem_gb" not in Scenario().to_dict()
    d = Scenario(client_mem_gb=8.0, pin_client=[3, 1]).to_dict()
    assert d["client_mem_gb"] == 8.0 and d["pin_client"] == [1, 3]
    assert Scenario(**d) == Scenario(client_mem_gb=8.0, pin_client=(1, 3))


def test_baselines_say_they_do_not_fit():
    from splittui.llm import profile_for
    from splittui.solvers import solve

    tiny = {"model_type": "llama", "hidden_size": 2048, "num_hidden_layers": 2, "num_attention_heads": 16,
            "num_key_value_heads": 4, "intermediate_size": 8192, "vocab_size": 128256, "_name": "tiny"}
    p = profile_for(tiny, seq_lens=(128, 256))
    sc = Scenario(seq_len=128, deadline_ms=1e6, client_mem_gb=2.2, pin_client=(0,))
    res = solve(p, sc, "all-client")
    assert not res.feasible and any("does not fit: client" in v for v in res.violations)
    for name in ("exact", "dp"):
        ex = solve(p, sc, name)
        assert ex.feasible and ex.policy[0] == 1
        assert ex.client_mem_need_bytes + reserve_bytes(2.2e9) <= 2.2e9


def _accelerate_sizes(name: str):
    accelerate = pytest.importorskip("accelerate", reason="accelerate is not installed (pip install accelerate)")
    pytest.importorskip("transformers", reason="transformers is not installed")
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from splittui.llm import _configs_dir

    cfg = AutoConfig.from_pretrained(str(_configs_dir() / f"{name}.json"))
    with accelerate.init_empty_weights():
        model = AutoModelForCausalLM.from_config(cfg, torch_dtype=torch.bfloat16)
    return accelerate.utils.compute_module_sizes(model, dtype=torch.bfloat16)


@pytest.mark.parametrize("name", ["gemma-2-2b", "gpt2", "llama-3.1-8b", "llama-3.2-1b", "mistral-7b-v0.3",
                                  "phi-3-mini", "qwen2.5-0.5b", "qwen2.5-7b", "gpt2-xl", "llama-3.2-3b",
                                  "llama-3.1-70b"])
def test_weight_bytes_match_accelerate(name):
    from splittui.llm import profile_for

    sizes = _accelerate_sizes(name)
    p = profile_for(name, seq_lens=(128,))
    ours: dict[str, float] = {}
    for layer in p.layers:
        key = layer.name.split(".", 1)[0] if layer.name.startswith("h") and "." in layer.name else layer.name
        ours[key] = ours.get(key, 0.0) + layer.weight_bytes[0]
    blocks = {k: v for k, v in sizes.items() if k.count(".") == 2 and k.split(".")[-2] in ("layers", "h")}
    assert blocks, sorted(sizes)[:20]
    for key, size in blocks.items():
        i = int(key.split(".")[-1])
        assert ours[f"h{i}"] == pytest.approx(size, rel=0.01), key


def test_limits_off_a_plan_that_overflows_its_device_is_named_with_the_fix(capsys, tmp_path):
    """Limits off (the default): a placement too large for its device preset is said to be, per side, in the
    fit rows, the policy document, `solve`'s output and the app's memory line; a limit on that side, or a
    plan that fits, says nothing more."""
    import json

    from splittui.cli import main
    from splittui.fit import fit_policy
    from splittui.llm import profile_for
    from splittui.memory import device_fits, device_usable_bytes, memory_rows
    from splittui.policy import policy_document
    from splittui.solvers import solve
    from splittui.tui.privacy import memory_line
    from splittui.tui.state import compute_state

    p = profile_for("llama-3.1-8b", client_device="phone-soc", server_device="a100-80gb", seq_lens=(128, 256))
    sc = Scenario(seq_len=128, deadline_ms=1e7)
    usable = device_usable_bytes(p, "client")
    assert usable == 8 * 2 ** 30 and device_usable_bytes(p, "server") == 80 * 2 ** 30
    rows = memory_rows(p, sc)
    every = np.ones(p.n_layers, dtype=np.int8)
    (c, s) = device_fits(p, rows, every)
    assert (c.side, c.device, c.fits, s.fits) == ("client", "phone-soc", False, True)
    assert rows.tied is None      # llama-3.1-8b: an untied head, so the need is every layer's bytes
    assert c.need == pytest.approx(rows.weights.sum() + rows.kv.sum() + rows.act.max(), rel=1e-9) and c.need > 16e9
    assert c.reserve == reserve_bytes(usable) and c.total > usable
    assert all(d.fits for d in device_fits(p, rows, np.zeros(p.n_layers, dtype=np.int8)))   # all on the A100
    limited = Scenario(seq_len=128, deadline_ms=1e7, client_mem_gb=8.0)
    assert [d.side for d in device_fits(p, memory_rows(p, limited), every)] == ["server"]   # the limit rules
    assert "phone-soc's 8.59 GB (estimate): set its limit to 'device'" in fit_policy(p, sc, every).binding

    res = solve(p, sc, "all-client")
    doc = policy_document(p, sc, res)["memory"]
    assert doc["client"]["fits_device"] is False and doc["client"]["device_usable_bytes"] == usable
    assert doc["server"]["fits_device"] is True
    assert "fits_device" not in policy_document(p, limited, solve(p, limited, "no-split"))["memory"]["client"]

    st = compute_state(p, sc)
    line = memory_line(st, "greedy").plain        # no deadline to speak of: greedy keeps every layer
    assert f"client needs {(c.total / 1e9):,.2f} GB > phone-soc's 8.59 GB · no limit (m)" in line
    assert memory_line(st, "no-split") is None          # all on the A100: it fits
    one = compute_state(p, Scenario(seq_len=128, deadline_ms=1e7, server_mem_gb=80.0))   # the client left open
    line = memory_line(one, "greedy").plain
    assert "server" in line and "client over phone-soc's 8.59 GB" in line

    assert main(["solve", "--model", "llama-3.1-8b", "--client-device", "phone-soc", "--seq", "128",
                 "--solver", "all-client"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "all-client holds up to 16." in out and "phone-soc leaves 8.59 GB" in out
    assert "--client-mem-gb device plans within it" in out
    assert main(["solve", "--model", "llama-3.1-8b", "--client-device", "phone-soc", "--seq", "128",
                 "--solver", "all-client", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["memory"]["client"]["fits_device"] is False
    path = tmp_path / "plan.json"          # the file re-scored says so too
    assert main(["solve", "--model", "llama-3.1-8b", "--client-device", "phone-soc", "--seq", "128",
                 "--solver", "all-client", "--out", str(path)]) == 0
    capsys.readouterr()
    main(["evaluate", "--policy", str(path)])
    assert "--client-mem-gb device plans within it" in " ".join(capsys.readouterr().out.split())
    assert main(["solve", "--model", "llama-3.1-8b", "--client-device", "phone-soc", "--seq", "128",
                 "--solver", "dp", "--max-share", "0.1"]) == 0          # goal seek's answers too
    assert "dp holds up to" in " ".join(capsys.readouterr().out.split())


@settings(max_examples=100, deadline=None)
@given(chains(), st.data())
def test_exact_from_a_hint_is_still_exact(c, data):
    """A hint (the DP's policy in `solve_all`) is only a floor: exact started from any policy, feasible or not,
    or from the optimum itself, answers brute force's optimum."""
    lims = (math.inf, math.inf, c.deadline_ms + 1e-9 * max(1.0, c.deadline_ms))
    want = constrained_brute_force(c, None, c, lims)
    drawn = tuple(data.draw(st.lists(st.integers(0, 1), min_size=c.n, max_size=c.n)))
    for hint in (drawn, want):
        got = constrained_exact(c, None, c, hint=hint)
        assert (got is None) == (want is None)
        if want is not None:
            assert meets(c, got)
            assert reward(c, got) == pytest.approx(reward(c, want), rel=1e-12, abs=1e-9)


def test_solve_all_starts_exact_from_the_dps_policy_and_skips_the_beam_pass(monkeypatch):
    """Under a binding memory limit, `solve_all` hands exact the DP's policy: its beam pass (the floor search)
    does not run, and the answer is the one exact gives alone."""
    from splittui.cli import build_parser
    from splittui.commands.common import profile_from_args, scenario_from_args
    from splittui.solvers import constrained, solve, solve_all

    args = build_parser().parse_args(["solve", "--model", "gpt2-like", "--pin-client", "embed,head",
                                      "--client-mem-gb", "2", "--deadline-ms", "3000"])
    profile = profile_from_args(args)
    sc = scenario_from_args(args, profile)
    alone = solve(profile, sc, "exact")
    assert alone.feasible and not alone.notes   # proven, not capped
    beams = []
    run_pass = constrained._pass

    def counted(*pa, **kw):
        beams.append(bool(kw.get("beam")))
        return run_pass(*pa, **kw)

    monkeypatch.setattr(constrained, "_pass", counted)
    solve(profile, sc, "dp")
    dp_beams = sum(beams)             # the DP's own search (a label pass on its integer chain) has its beam
    beams.clear()
    solve(profile, sc, "exact")
    assert sum(beams) >= 1            # alone, exact searches its floor with a beam pass
    beams.clear()
    both = solve_all(profile, sc, ("dp", "exact"))
    assert both["dp"].feasible and both["exact"].server_share == pytest.approx(alone.server_share, abs=1e-12)
    assert sum(beams) == dp_beams     # after the DP, exact runs no beam pass: the DP's policy was its floor


@settings(max_examples=100, deadline=None)
@given(chains(), st.data())
def test_a_capped_search_from_a_hint_finds_what_it_finds_without_one_or_better(c, data):
    """A hint replaces exact's beam pass only while the search finishes: where the search stops at its cap (forced:
    1 label), the beam pass still runs, so the answer is at least as good as without the hint, and as the hint."""
    from splittui.solvers import constrained

    def capped(hint):
        cap, constrained.MAX_LABELS = constrained.MAX_LABELS, 1
        try:
            return constrained_exact(c, None, c, hint=hint)
        except constrained.SearchCapped as exc:
            return exc.policy
        finally:
            constrained.MAX_LABELS = cap

    def value(x) -> float:
        return -math.inf if x is None or not meets(c, x) else reward(c, x)

    import itertools

    feasible = [x for x in itertools.product((0, 1), repeat=c.n) if meets(c, x)]
    hint = data.draw(st.sampled_from(feasible)) if feasible else None   # a floor the search starts from
    tol = 1e-9 * max(1.0, float(c.reward.sum()))
    got = capped(hint)
    assert value(got) >= max(value(capped(None)), value(hint)) - tol

"""`splittui fit` (issue 25 item 4): breakdowns, what binds, fixes re-checked independently, and the inverses
(longest context, least client memory) checked at their boundary."""

from __future__ import annotations

import json

import numpy as np
import pytest

from splittui.cli import main
from splittui.fit import fit_policy, fit_solver, least_client_memory, longest_context
from splittui.llm import profile_for
from splittui.memory import GB, memory_breakdown
from splittui.model import Scenario
from splittui.setup import setup_of
from splittui.solvers import solve


def _fits(profile, sc, policy) -> bool:
    return all(s.fits for s in memory_breakdown(profile, sc, policy))


def _rebuild(profile, seq):
    setup = setup_of(profile)
    return lambda o: setup.build(include_seq=(seq,), overrides=o)


def test_70b_no_split_on_one_a100_does_not_fit_and_the_fixes_hold():
    p = profile_for("llama-3.1-70b", server_device="a100-80gb", seq_lens=(512,))
    sc = Scenario(seq_len=512, deadline_ms=1e9, server_mem_gb=80 * 2 ** 30 / GB, client_mem_gb=16 * 2 ** 30 / GB)
    x = solve(p, sc.replace(client_mem_gb=None, server_mem_gb=None), "no-split").policy
    rep = fit_policy(p, sc, x, label="no-split", rebuild=_rebuild(p, 512), devices={"small": 24 * 2 ** 30})
    assert not rep.fits and rep.binding.startswith("server memory")
    client, server = rep.sides
    assert server.weights > 140e9 and not server.fits and client.fits
    by_kind = {f.kind: f for f in rep.fixes}
    # the dtype fix, re-checked here on a profile rebuilt at that dtype
    dt = by_kind["dtype"]
    assert dt.ok and dt.change == "--dtype int8"
    assert _fits(profile_for("llama-3.1-70b", dtype="int8", server_device="a100-80gb", seq_lens=(512,)), sc, x)
    assert not _fits(p, sc, x)
    assert not by_kind["device"].ok          # a 24 GiB device does not hold 141 GB
    assert not by_kind["context"].ok         # the weights alone are too large
    assert not by_kind["layers"].ok          # a 16 GiB client cannot take enough of them


def test_layer_fix_moves_the_fewest_layers_in_its_order():
    p = profile_for("qwen2.5-0.5b", seq_lens=(256,))
    x = np.ones(p.n_layers, dtype=np.int8)          # all on the client
    total = sum(s.total for s in memory_breakdown(p, Scenario(seq_len=256, deadline_ms=1e9), x))
    sc = Scenario(seq_len=256, deadline_ms=1e9, client_mem_gb=total / GB * 0.6)
    rep = fit_policy(p, sc, x)
    fix = next(f for f in rep.fixes if f.kind == "layers")
    assert fix.ok
    k = int(fix.change.split()[0])
    y = x.copy()
    y[p.n_layers - k:] = 0
    assert _fits(p, sc, y)
    y[p.n_layers - k] = 1                        # one layer fewer moved: does not fit
    assert not _fits(p, sc, y)


@pytest.mark.parametrize("gen", [0, 64])
def test_longest_context_is_the_boundary(gen):
    limit_gb = 2.5
    p = profile_for("qwen2.5-0.5b", seq_lens=(256, 256 + gen) if gen else (256,))
    sc = Scenario(seq_len=256, gen_tokens=gen, deadline_ms=1e9, client_mem_gb=limit_gb)
    x = np.ones(p.n_layers, dtype=np.int8)
    s = longest_context(p, sc, x)
    assert s is not None and 256 < s < 32768 - gen
    for seq, ok in ((s, True), (s + 1, False)):   # checked on profiles built at that length
        q = profile_for("qwen2.5-0.5b", seq_lens=(seq, seq + gen) if gen else (seq,))
        assert _fits(q, sc.replace(seq_len=seq), x) is ok, seq
    # any placement: at least as long as the all-client one
    assert longest_context(p, sc) >= s


def test_least_client_memory_is_the_boundary():
    p = profile_for("qwen2.5-0.5b", client_device="jetson-orin", seq_lens=(256,))
    sc = Scenario(seq_len=256, deadline_ms=4000.0)
    free = solve(p, sc, "greedy")
    target = min(0.9, free.server_share + 0.2)
    gb = least_client_memory(p, sc, target, "greedy", tol_gb=0.01)
    assert gb is not None
    at = solve(p, sc.replace(client_mem_gb=gb), "greedy")
    assert at.feasible and at.server_share <= target + 1e-12
    below = solve(p, sc.replace(client_mem_gb=gb - 0.02), "greedy")
    assert not (below.feasible and below.server_share <= target + 1e-12)


def test_fit_solver_names_the_binding_side():
    p = profile_for("qwen2.5-0.5b", client_device="jetson-orin", seq_lens=(256,))
    sc = Scenario(seq_len=256, deadline_ms=1e9, client_mem_gb=0.05, server_mem_gb=0.05)
    rep = fit_solver(p, sc, "greedy")
    assert not rep.feasible and "memory" in rep.binding
    free = fit_solver(p, sc.replace(client_mem_gb=None, server_mem_gb=None), "greedy")
    assert free.feasible and free.fits


def test_cli_fit_70b_json_and_exit_status(capsys):
    rc = main(["fit", "--model", "llama-3.1-70b", "--server-device", "a100-80gb", "--solver", "no-split", "--json"])
    assert rc == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "splittui.fit/1" and doc["fits"] is False
    assert doc["memory"]["server"]["fits"] is False and doc["memory"]["server"]["limit_bytes"] == 80 * 2 ** 30
    assert any(f["kind"] == "dtype" and f["fits"] for f in doc["fixes"])


def test_cli_fit_human_and_bad_input(capsys):
    rc = main(["fit", "--model", "llama-3.2-1b", "--client-device", "phone-soc", "--solver", "greedy",
               "--seq", "512", "--longest-context"])
    out = capsys.readouterr().out
    assert rc == 0 and "binds:" in out and "longest prompt that fits" in out
    assert main(["fit", "--model", "llama-3.2-1b", "--solver", "no-split", "--least-client-mem", "0.5"]) == 2
    assert "fixed placement" in capsys.readouterr().err

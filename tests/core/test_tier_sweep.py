"""`sweep` over a chain of tiers (issue 28 item 3): the cells read off one front per (length, bandwidth) are
each solver's own answer at that cell; two tiers print exactly today's sweep; the rows carry every tier's
share; bad input is one line and exit 2."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import replace

import numpy as np
import pytest
from cli_runner import run_cli

from splittui.llm import load_any
from splittui.model import Scenario
from splittui.profiles import load_profile
from splittui.solvers.tiers import solve_tiers_phases
from splittui.sweep import SweepConfig, run_sweep
from splittui.tier_sweep import run_tier_sweep, tier_sweep_rows
from splittui.tiers import Hop, Tier, Topology, tier_phases

THREE = Topology(tiers=(Tier("phone", "phone-soc"), Tier("edge", "jetson-orin"), Tier("cloud", "a100-80gb")),
                 hops=(Hop(50.0, 100.0, 5.0), Hop(200.0, 500.0, 20.0)))
TIERS = ["--tier", "phone=phone-soc", "--tier", "edge=jetson-orin", "--tier", "cloud=a100-80gb",
         "--hop", "50/100/5", "--hop", "200/500/20"]


def _llama_tiers(seq: int) -> list:
    """profiles[k] as `tier_phases` takes them: phone as client, tier k's device as server (tier 0: edge's)."""
    edge = load_any("llama-3.2-1b", client_device="phone-soc", server_device="jetson-orin", include_seq=[seq])
    cloud = load_any("llama-3.2-1b", client_device="phone-soc", server_device="a100-80gb", include_seq=[seq])
    return [edge, edge, cloud]


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


@pytest.mark.parametrize("limits", [{}, {"ttft_ms": 900.0, "tpot_ms": 40.0}])
def test_cells_are_each_solvers_answer_at_the_cell(limits) -> None:
    """dp and exact come from one front per pair; each cell must be what `solve_tiers_phases` answers at its
    own deadline (the same feasibility and weighted work), with and without TTFT/TPOT limits."""
    profiles = _llama_tiers(512)
    cfg = SweepConfig(seq_lens=(512,), bandwidths=(20.0, 500.0), gen_tokens=32, max_steps=3, per_halving=2,
                      **limits)
    sw = run_tier_sweep(profiles, THREE, cfg, hop=0)
    assert sw.n_cells >= 6 and set(sw.bandwidth.tolist()) == {20.0, 500.0}
    seen = dict.fromkeys(sw.solvers, 0)
    for i, res in enumerate(sw.results):
        d = float(sw.deadline_ms[i])
        topo = replace(THREE, hops=(Hop(sw.bandwidth[i], sw.bandwidth[i], 5.0), THREE.hops[1]))
        sc = Scenario(deadline_ms=max(d, limits.get("ttft_ms", 0.0)), seq_len=int(sw.seq[i]),
                      unit_ms=float(sw.unit_ms[i]), gen_tokens=cfg.gen_tokens, **limits)
        ph = tier_phases(profiles, sc, topo)   # a cell's own costs, at its own deadline
        ph = replace(ph, prefill=replace(ph.prefill, deadline_ms=d))
        for solver in sw.solvers:
            want, got = solve_tiers_phases(ph, sc, solver), res[solver]
            assert got.feasible == want.feasible and _close(got.objective, want.objective), (i, solver)
            seen[solver] += got.feasible
    assert seen["dp"] and seen["exact"] and seen["exact"] >= seen["dp"]
    if limits:   # exact meets the limits in every cell it calls feasible
        assert all(not r["exact"].feasible or (r["exact"].ttft_ms <= 900.0 * (1 + 1e-9)
                                               and r["exact"].tpot_ms <= 40.0 * (1 + 1e-9)) for r in sw.results)


def test_generic_engine_on_two_tiers_is_the_two_sided_sweep() -> None:
    """The tier engine itself (not the hand-off) on one client and one server gives today's sweep's cells:
    the same grid, and dp's and exact's client shares and latencies."""
    p = load_profile("gpt2-like")
    cfg = SweepConfig(bandwidths=(10.0, 200.0), seq_lens=(128, 512), max_steps=6)
    two = run_sweep(p, cfg)
    topo = Topology(tiers=(Tier("client"), Tier("server")), hops=(Hop(1.0, 1.0, cfg.delay_ms),))
    tier = run_tier_sweep([p, p], topo, cfg, hop=0)
    assert tier.n_cells == two.n_cells
    assert np.array_equal(tier.seq, two.seq) and np.array_equal(tier.bandwidth, two.bandwidth)
    assert np.allclose(tier.deadline_ms, two.deadline_ms, rtol=1e-12) and np.allclose(tier.unit_ms, two.unit_ms)
    for solver in ("dp", "exact", "no-split"):
        share = np.array([np.nan if not r[solver].feasible else r[solver].shares[0] for r in tier.results])
        lat = np.array([np.nan if not r[solver].feasible else r[solver].latency_ms for r in tier.results])
        assert np.allclose(share, two.share(solver), equal_nan=True, atol=1e-12), solver
        assert np.allclose(lat, two.latency(solver), equal_nan=True, rtol=1e-9), solver


def test_two_tiers_print_exactly_todays_sweep(capsys, monkeypatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    base = ["sweep", "--model", "gpt2-like", "--seqs", "128,256", "--max-halvings", "4"]
    rc, out, err = run_cli([*base, "--bandwidths", "10,100"], capsys)
    rc2, out2, err2 = run_cli([*base, "--tier", "client", "--tier", "server", "--hop", "10/10/10", "--hop-sweep", "1",
                               "--bandwidths", "10,100"], capsys)
    assert rc == rc2 == 0 and out == out2 and err == err2 and "Fig. 8" in out
    rc, out, _ = run_cli([*base, "--bandwidths", "50", "--delay-ms", "5", "--json"], capsys)
    rc2, out2, _ = run_cli([*base, "--tier", "c", "--tier", "s", "--hop", "50/50/5", "--json"], capsys)
    a, b = json.loads(out), json.loads(out2)
    for doc in (a, b):
        for m in doc["models"]:
            m["summary"].pop("elapsed_s")
    assert rc == rc2 == 0 and a == b and a["schema"] == "splittui.sweep/1"


DONE_WHEN = ["sweep", "--model", "llama-3.1-8b", *TIERS, "--seqs", "1024", "--gen-tokens", "256",
             "--deadlines", "60000"]


def test_done_when_row_carries_every_tiers_share(capsys, tmp_path, monkeypatch) -> None:
    """The done-when scenario as a sweep row (the hops as given): exact's shares, latency and TTFT are `solve
    --solver exact`'s; the JSON and CSV rows carry each solver's share per tier, latency, TTFT/TPOT and
    feasible; with --hop-sweep one row per bandwidth, the hop at up = down."""
    monkeypatch.setenv("NO_COLOR", "1")
    rc, out, err = run_cli([*DONE_WHEN, "--json"], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["schema"] == "splittui.sweep/1" and doc["hop_swept"] is None
    assert [t["name"] for t in doc["topology"]["tiers"]] == ["phone", "edge", "cloud"]
    (row,) = doc["models"][0]["cells"]
    rc, out, err = run_cli(["solve", "--model", "llama-3.1-8b", *TIERS, "--seq", "1024", "--gen-tokens", "256",
                            "--deadline-ms", "60000", "--solver", "exact", "--json"], capsys)
    solved = json.loads(out)
    for k, name in enumerate(("phone", "edge", "cloud")):
        assert row[f"exact_{name}_share"] == pytest.approx(solved["tiers"]["shares"][k], abs=1e-12)
    assert row["exact_latency_ms"] == pytest.approx(solved["latency_ms"], rel=1e-12)
    assert row["exact_ttft_ms"] == pytest.approx(solved["ttft_ms"], rel=1e-12) and row["exact_feasible"] is True
    for solver in ("dp", "exact", "no-split", "all-client"):
        for key in ("feasible", "phone_share", "edge_share", "cloud_share", "latency_ms", "ttft_ms", "tpot_ms"):
            assert f"{solver}_{key}" in row
    assert math.isclose(sum(row[f"dp_{t}_share"] for t in ("phone", "edge", "cloud")), 1.0)
    path = tmp_path / "cells.csv"
    rc, out, err = run_cli([*DONE_WHEN, "--hop-sweep", "1", "--bandwidths", "50,200", "--csv", path], capsys)
    assert rc == 0, err
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["bandwidth_mbps"] for r in rows] == ["50.0", "200.0"] and {r["hop"] for r in rows} == {"1"}
    assert "exact_cloud_share" in rows[0] and "phone→edge" in out and "2 cells" in out
    assert all(w in out for w in ("phone", "edge", "cloud", "exact", "all-client"))


def test_progress_is_reported_per_pair() -> None:
    profiles = _llama_tiers(256)
    calls = []
    cfg = SweepConfig(seq_lens=(128, 256), bandwidths=(10.0, 100.0, 1000.0), deadlines=(20000.0, 5000.0))
    sw = run_tier_sweep(profiles, THREE, cfg, hop=1, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 6) for i in range(1, 7)] and sw.n_cells == 12
    rows = tier_sweep_rows(sw)
    assert {r["hop"] for r in rows} == {2} and rows[0]["deadline_ms"] == 20000.0


@pytest.mark.parametrize("argv, words", [
    ([*TIERS, "--hop-sweep", "3"], "--hop-sweep 3: the topology has 2 hop(s)"),
    (["--hop-sweep", "1"], "--hop-sweep 1: sweeps a hop of a chain of tiers"),
    ([*TIERS, "--bandwidths", "10,100"], "name the hop it sweeps with --hop-sweep"),
    ([*TIERS, "--delay-ms", "5"], "each hop has its own delay"),
    ([*TIERS, "--grid", "paper"], "--grid paper"),
    ([*TIERS, "--radio", "lte"], "--radio"),
    ([*TIERS, "--client-device", "l4"], "--client-device"),
    ([*TIERS[:4], "--hop", "1/1/1", "--hop", "2/2/2"], "need 1 hop"),
    (["--deadlines", "0,100"], "--deadlines"),
    (["--deadlines", "x"], "--deadlines"),
])
def test_bad_input_is_one_line_exit_2(capsys, argv, words) -> None:
    model = ["--model", "llama-3.2-1b"]
    rc, out, err = run_cli(["sweep", *model, "--seqs", "128", *argv], capsys)
    assert rc == 2 and words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_several_models_over_tiers_is_one_line(capsys) -> None:
    rc, out, err = run_cli(["sweep", "--model", "gpt2-like,bert-base", *TIERS], capsys)
    assert rc == 2 and "takes one model" in err and len(err.strip().splitlines()) == 1

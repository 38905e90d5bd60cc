"""Issue 13, the sweep that explains itself: the paper grid, --server-speedup, the four gain measures
and the server-load reduction, the DP's rounding losses; each against a direct recomputation."""

from __future__ import annotations

import numpy as np
import pytest
from cli_runner import run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_sweep import cell_scenario, synthetic_doc

from splittui.costs import costs_for
from splittui.profiles import profile_from_doc
from splittui.solvers import solve_costs
from splittui.solvers.baselines import prefix_latencies
from splittui.sweep import PAPER_TOP_GAP, SweepConfig, rescale_server, run_sweep, server_speedups
from splittui.sweep_summary import overall, rounding, summary

FEW = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _profile(seed: int, n: int):
    return profile_from_doc(synthetic_doc(np.random.default_rng(seed), n))


@FEW
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 7), speedup=st.floats(0.5, 500))
def test_rescaled_server_has_the_asked_speedup_at_every_length(seed, n, speedup):
    prof = _profile(seed, n)
    fast = rescale_server(prof, speedup)
    for k in range(len(prof.seq_lens)):
        client = sum(layer.client_ms[k] for layer in fast.layers)
        server = sum(layer.server_ms[k] for layer in fast.layers)
        assert client / server == pytest.approx(speedup, rel=1e-9)
        old = [layer.server_ms[k] for layer in prof.layers]
        new = [layer.server_ms[k] for layer in fast.layers]
        assert np.allclose(np.array(new) * sum(old), np.array(old) * sum(new))  # shape kept, scale changed
    assert server_speedups(fast, prof.seq_lens) == pytest.approx((speedup,) * len(prof.seq_lens), rel=1e-9)
    assert "--server-speedup" in fast.source["server"]


@FEW
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 6))
def test_paper_grid_spans_no_split_to_almost_all_client_and_equals_per_cell_solves(seed, n):
    prof = _profile(seed, n)
    cfg = SweepConfig(grid="paper", bandwidths=(1.0, 50.0), paper_steps=4, resolution=60)
    sw = run_sweep(prof, cfg)
    assert sw.n_cells == len(prof.seq_lens) * 2 * 4
    for s in prof.seq_lens:
        for bw in cfg.bandwidths:
            m = (sw.seq == s) & (sw.bandwidth == bw)
            d = sw.deadline_ms[m]
            c = costs_for(prof, cell_scenario(sw, int(np.flatnonzero(m)[0]), cfg))
            lat = prefix_latencies(c)
            assert np.all(np.diff(d) <= 1e-12 * d[0])                          # loosest first
            assert d[0] == pytest.approx(max((1 - PAPER_TOP_GAP) * lat[-1], d[-1]), rel=1e-9)
            if lat[0] < d[0]:
                assert d[-1] == pytest.approx(lat[0], rel=1e-9)                   # no-split just fits
    for i in range(sw.n_cells):
        sc = cell_scenario(sw, i, cfg)
        for k, name in enumerate(sw.solvers):
            ref = solve_costs(costs_for(prof, sc), sc, name)
            got = sw.client_share[i, k]
            assert np.isfinite(got) == ref.feasible, (i, name)
            if ref.feasible:
                assert got == pytest.approx(ref.client_share, abs=1e-9), (i, name)


def _direct(sw):
    """Every measure recomputed cell by cell from server_load() (absolute loads, not shares)."""
    dp, g = sw.share("dp"), sw.share("greedy")
    both = np.isfinite(dp) & np.isfinite(g)
    ld, lg = sw.server_load("dp")[both], sw.server_load("greedy")[both]
    sd, sg = ld / sw.total_load[both], lg / sw.total_load[both]
    ratios = [(a - b) / b for a, b in zip(dp[both], g[both], strict=True) if b > 0]
    red = [(b - a) / b for a, b in zip(ld, lg, strict=True) if b > 0]
    return {"improvement_mean": np.mean(ratios), "points": dp[both].mean() - g[both].mean(),
            "server_reduction": (sg.mean() - sd.mean()) / sg.mean(), "server_reduction_mean": np.mean(red)}


@FEW
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 7))
def test_gain_measures_and_server_load_reduction_match_their_definitions(seed, n):
    sw = run_sweep(_profile(seed, n), SweepConfig(bandwidths=(2.0, 50.0), resolution=40))
    s = summary(sw)
    if s["cells"] == 0 or not np.isfinite(s["improvement_mean"]) or not np.isfinite(s["server_reduction_mean"]):
        return
    for key, want in _direct(sw).items():
        assert s[key] == pytest.approx(want, rel=1e-9, abs=1e-12), key
    o = overall([sw, sw])
    assert o["server_reduction"] == pytest.approx(s["server_reduction"], rel=1e-9)


@FEW
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 7), resolution=st.sampled_from([3, 20, 200]))
def test_rounding_counts_the_cells_exact_wins(seed, n, resolution):
    sw = run_sweep(_profile(seed, n), SweepConfig(bandwidths=(2.0, 50.0), resolution=resolution))
    r = rounding(sw)
    dp, ex = sw.share("dp"), sw.share("exact")
    behind = sum(1 for a, b in zip(dp, ex, strict=True) if np.isfinite(a) and np.isfinite(b) and b > a + 0.01)
    lost = sum(1 for a, b in zip(dp, ex, strict=True) if not np.isfinite(a) and np.isfinite(b))
    assert (r["cells_behind"], r["cells_infeasible"]) == (behind, lost)
    assert r["unit_ms_min"] == sw.unit_ms.min() and r["unit_ms_max"] == sw.unit_ms.max()
    assert np.all(~np.isfinite(ex) <= ~np.isfinite(dp))  # exact is never infeasible where dp is not


def test_rounding_losses_shrink_with_a_finer_time_unit():
    prof = _profile(7, 7)
    coarse = rounding(run_sweep(prof, SweepConfig(bandwidths=(2.0, 50.0), resolution=2)))
    fine = rounding(run_sweep(prof, SweepConfig(bandwidths=(2.0, 50.0), resolution=20_000)))
    assert fine["cells_behind"] + fine["cells_infeasible"] <= coarse["cells_behind"] + coarse["cells_infeasible"]
    assert coarse["cells_behind"] + coarse["cells_infeasible"] > 0


def test_sweep_command_paper_grid_prints_the_explanation(capsys):
    rc, out, err = run_cli(["sweep", "--model", "bert-base", "--grid", "paper", "--server-speedup", "79",
                            "--seqs", "128,256", "--no-charts", "--no-exact"], capsys)
    assert rc == 0, err
    flat = " ".join(out.split())  # rich wraps titles and captions to the terminal's width
    assert "gain over greedy, four ways" in flat and "rescaled to 79x" in flat
    assert "79x" in out and "server-load reduction" in flat


@pytest.mark.parametrize("argv, needle", [
    (["--server-speedup", "0"], "--server-speedup"),
    (["--grid", "papers"], "--grid"),
    (["--attention", "lowrank:0"], "lowrank:0"),
    (["--attention", "dense:4"], "unknown attention variant"),
    (["--model", "cmt-s", "--attention", "sparse:64"], "cmt-s"),
])
def test_bad_sweep_flags_of_issue_13_are_one_line(argv, needle, capsys):
    rc, out, err = run_cli(["sweep", "--model", "bert-base", "--no-charts", *argv], capsys)
    assert rc == 2 and out == "" and len(err.strip().splitlines()) == 1 and needle in err, err

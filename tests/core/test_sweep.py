"""splittui.sweep: frontier-based cells equal per-cell solves; DP >= greedy on integer times; the
deadline rule; aggregates; and the `splittui sweep` command's files."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from splittui.cli import main
from splittui.costs import costs_for, min_latency
from splittui.model import Scenario
from splittui.profiles import profile_from_doc
from splittui.solvers import solve_costs
from splittui.sweep import SweepConfig, deadline_series, run_sweep
from splittui.sweep_sim import sim_cells
from splittui.sweep_summary import by_bandwidth, by_deadline, charts, summary, sweep_rows

FEW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def synthetic_doc(rng: np.random.Generator, n_layers: int, *, integer: bool = False) -> dict:
    """A random chain with two sequence lengths. integer: every time a whole ms at 1, 2, 4 Mbit/s."""
    seq_lens = [32, 64]

    def arr(lo, hi):
        v = rng.uniform(lo, hi, 2)
        return [float(round(x)) if integer else float(x) for x in np.sort(v)]

    def nbytes():
        k = rng.integers(0, 6, 2)
        return [float(500 * x) if integer else float(500 * x + rng.uniform(0, 400)) for x in np.sort(k)]

    layers = [{"name": f"l{i}", "kind": "linear", "flops": arr(1e6, 1e8), "client_ms": arr(1, 40),
               "server_ms": arr(0, 3), "in_bytes": nbytes()} for i in range(n_layers)]
    return {"schema": "splittui.profile/1", "model": "synthetic", "source": {"kind": "synthetic"},
            "seq_lens": seq_lens, "output_bytes": nbytes(), "layers": layers}


def cell_scenario(sw, i: int, cfg: SweepConfig) -> Scenario:
    return Scenario(deadline_ms=float(sw.deadline_ms[i]), up_mbps=float(sw.bandwidth[i]), delay_ms=cfg.delay_ms,
                    seq_len=int(sw.seq[i]), unit_ms=float(sw.unit_ms[i]), objective=cfg.objective)


@FEW
@given(seed=st.integers(0, 2**32 - 1), n_layers=st.integers(1, 7), per_halving=st.integers(1, 2))
def test_frontier_sweep_equals_per_cell_solves(seed, n_layers, per_halving):
    prof = profile_from_doc(synthetic_doc(np.random.default_rng(seed), n_layers))
    cfg = SweepConfig(bandwidths=(1.0, 5.0, 50.0), per_halving=per_halving, resolution=60)
    sw = run_sweep(prof, cfg)
    assert sw.n_cells > 0
    for i in range(sw.n_cells):
        sc = cell_scenario(sw, i, cfg)
        c = costs_for(prof, sc)
        for k, name in enumerate(sw.solvers):
            ref = solve_costs(c, sc, name)
            got_share, got_lat = sw.client_share[i, k], sw.latency_ms[i, k]
            assert ref.feasible == bool(np.isfinite(got_share)), (i, name)
            if ref.feasible:
                assert got_share == pytest.approx(ref.client_share, abs=1e-12), (i, name)
                assert got_lat == pytest.approx(ref.latency_ms, rel=1e-12, abs=1e-9), (i, name)


@FEW
@given(seed=st.integers(0, 2**32 - 1), n_layers=st.integers(1, 9))
def test_dp_never_below_greedy_when_times_are_multiples_of_T(seed, n_layers):
    prof = profile_from_doc(synthetic_doc(np.random.default_rng(seed), n_layers, integer=True))
    cfg = SweepConfig(bandwidths=(1.0, 2.0, 4.0), delay_ms=3.0, unit_ms=1.0, per_halving=2)
    sw = run_sweep(prof, cfg)
    dp, greedy, exact = sw.share("dp"), sw.share("greedy"), sw.share("exact")
    both = np.isfinite(greedy)
    assert np.all(np.isfinite(dp[both]))                  # greedy feasible -> DP feasible
    assert np.all(dp[both] >= greedy[both] - 1e-12)
    single = sw.share("single-split")
    assert np.all(dp[np.isfinite(single)] >= single[np.isfinite(single)] - 1e-12)
    np.testing.assert_allclose(dp[np.isfinite(exact)], exact[np.isfinite(exact)], atol=1e-12)


def test_deadline_series_follows_the_rule(gpt2_doc):
    prof = profile_from_doc(gpt2_doc)
    cfg = SweepConfig(per_halving=2)
    for s in (128, 1024):
        series = deadline_series(prof, s, cfg)
        c = costs_for(prof, Scenario(deadline_ms=1.0, up_mbps=max(cfg.bandwidths), seq_len=s))
        assert series[0] == pytest.approx(c.client_ms.sum())
        np.testing.assert_allclose(series[1:] / series[:-1], 2 ** -0.5)
        floor = min_latency(c)
        assert series[-1] >= floor > series[-1] * 2 ** -0.5


def test_aggregates_match_their_definition():
    prof = profile_from_doc(synthetic_doc(np.random.default_rng(3), 6))
    sw = run_sweep(prof, SweepConfig(bandwidths=(1.0, 10.0), resolution=50))
    dp, g = sw.share("dp"), sw.share("greedy")
    ok = np.isfinite(dp) & np.isfinite(g)
    s = summary(sw)
    assert s["cells"] == ok.sum()
    assert s["improvement"] == pytest.approx((dp[ok].mean() - g[ok].mean()) / g[ok].mean())
    for b, a in by_bandwidth(sw).items():
        m = ok & (sw.bandwidth == b)
        assert a["dp"] == pytest.approx(dp[m].mean())
    assert sum(a["cells"] for row in by_deadline(sw).values() for a in row.values()) == ok.sum()
    assert len(charts(sw)) == 4
    cells = sim_cells([sw])
    assert cells.n == np.sum(ok & np.isfinite(sw.share("no-split")))


def test_rows_cover_every_solver():
    prof = profile_from_doc(synthetic_doc(np.random.default_rng(5), 4))
    sw = run_sweep(prof, SweepConfig(bandwidths=(2.0,), resolution=40, exact=False))
    rows = sweep_rows(sw)
    assert len(rows) == sw.n_cells and "exact_feasible" not in rows[0]
    for row in rows:
        for name in sw.solvers:
            if row[f"{name}_feasible"]:
                assert row[f"{name}_client_share"] + row[f"{name}_server_share"] == pytest.approx(1.0)


def test_sweep_command_writes_files_and_refuses_to_overwrite(tmp_path, capsys):
    doc = synthetic_doc(np.random.default_rng(11), 5)
    prof_path = tmp_path / "p.json"
    prof_path.write_text(json.dumps(doc))
    out_csv, out_json = tmp_path / "s.csv", tmp_path / "s.json"
    argv = ["sweep", "--profile", str(prof_path), "--bandwidths", "1,10", "--resolution", "50", "--no-charts",
            "--csv", str(out_csv), "--json", str(out_json)]
    assert main(argv) == 0
    rows = list(csv.DictReader(out_csv.open()))
    data = json.loads(out_json.read_text())
    assert len(rows) == len(data["models"][0]["cells"]) > 0
    assert data["schema"] == "splittui.sweep/1"
    before = out_csv.read_text()
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err
    assert out_csv.read_text() == before
    assert main(argv + ["--force"]) == 0


def test_sweep_command_rejects_a_length_outside_the_profile(tmp_path, capsys):
    doc = synthetic_doc(np.random.default_rng(1), 3)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    assert main(["sweep", "--profile", str(path), "--seqs", "4096", "--no-charts"]) == 2
    assert "outside" in capsys.readouterr().err


def test_charts_are_finite_or_nan():
    prof = profile_from_doc(synthetic_doc(np.random.default_rng(2), 5))
    for chart in charts(run_sweep(prof, SweepConfig(bandwidths=(1.0, 10.0), resolution=40))):
        for _, xs, ys in chart.series:
            assert len(xs) == len(ys)
            assert all(math.isfinite(y) or math.isnan(y) for y in ys)


def exit_status(argv) -> int:
    """main's return value, or argparse's exit status for a flag it rejects."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def test_bad_sweep_flags_are_one_line_and_status_2(tmp_path, capsys):
    prof = tmp_path / "p.json"
    prof.write_text(json.dumps(synthetic_doc(np.random.default_rng(4), 3)))
    existing = tmp_path / "there.csv"
    existing.write_text("keep")
    for argv in (["--bandwidths", "0,-5"], ["--bandwidths", "a"], ["--seqs", "abc"], ["--seqs", "99999"],
                 ["--model", "nope"], ["--profile", str(tmp_path / "none.json")], ["--profile", str(existing)],
                 ["--json", str(tmp_path / "missing" / "s.json")], ["--csv", str(existing)]):
        if argv[0] in ("--seqs", "--json", "--csv", "--bandwidths"):
            argv = ["--profile", str(prof), *argv]
        assert exit_status(["sweep", "--no-charts", *argv]) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert err and "Traceback" not in "\n".join(err) and err[-1].startswith("splittui"), (argv, err)
    assert existing.read_text() == "keep"


@pytest.mark.parametrize("lo, hi", [(0.0, 27.0), (-88.9, 300.0), (3.2, 3.3), (0.0, 1e-3), (-5.0, 0.0)])
def test_nice_ticks_are_round_and_cover_the_range(lo, hi):
    from splittui.report.ticks import nice_ticks

    ticks = nice_ticks(lo, hi, 4)
    assert ticks[0] <= lo + 1e-12 and ticks[-1] >= hi - 1e-12 and 2 <= len(ticks) <= 9
    step = ticks[1] - ticks[0]
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert any(math.isclose(mantissa, m) for m in (1, 2, 2.5, 5))
    assert all(math.isclose(t / step, round(t / step), abs_tol=1e-6) for t in ticks)   # multiples of the step


@pytest.mark.parametrize("width", [80, 120])
def test_cli_charts_have_round_y_ticks_and_the_legend_above_the_plot(width):
    from rich.console import Console

    from splittui.report.charts import caption, chart_text

    prof = profile_from_doc(synthetic_doc(np.random.default_rng(2), 5))
    for chart in charts(run_sweep(prof, SweepConfig(bandwidths=(1.0, 10.0, 100.0), resolution=40))):
        text = chart_text(chart, width=min(width, 100), color=False)
        labels = [line.split("┤")[0].strip() for line in text.splitlines() if "┤" in line]
        values = [float(v.replace(",", "")) for v in labels if v]
        assert len(values) >= 2
        step = abs(values[0] - values[1])
        assert all(math.isclose(v / step, round(v / step), abs_tol=1e-6) for v in values), labels
        if chart.ylim == (0.0, 100.0):
            assert max(values) == 100 and min(values) == 0
        for label, _, _ in chart.series:           # the legend is not drawn on the data ...
            assert label not in text
        cap = Console(width=width, record=True)
        cap.print(caption(chart, color=False, width=width))
        lines = cap.export_text().splitlines()
        assert all(label in "\n".join(lines) for label, _, _ in chart.series)   # ... but above it
        assert all(len(line) <= width for line in lines) and len(lines) <= 3


def test_grid_flags_have_upper_bounds(capsys):
    for argv in (["--delay-ms", "1e300"], ["--per-halving", "1000"], ["--max-halvings", "1000"], ["--delay-ms", "-1"]):
        assert exit_status(["sweep", "--no-charts", *argv]) == 2, argv
        assert "error" in capsys.readouterr().err


@settings(deadline=None)
@given(st.floats(-0.99, 1e6, allow_nan=False))
def test_compact_gain_reads_as_percent_below_1000_and_times_greedy_above(v):
    """A table cell of the improvement over greedy: '+13' (percent) below +1000 %, else '×N' with N
    the ratio to greedy's share (never '+1023k', which read as thousands of percent)."""
    from splittui.report.formats import gain

    cell = gain(v, compact=True)
    if abs(100 * v) < 1000:
        assert cell == f"{100 * v:+.0f}"
    else:
        assert cell.startswith("×") and "%" not in cell
        n = float(cell[1:-1]) * 1000 if cell.endswith("k") else float(cell[1:])
        assert abs(n - (1 + v)) <= 0.5 + 500 * cell.endswith("k")   # rounded to a whole number (of thousands)

"""`splittui explore` (issue 30): the grid's cells, its executors (serial, process pool, a real Dask
LocalCluster) giving the same table cell by cell, --resume after a Ctrl-C, and bad grid files."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest
from cli_runner import run_cli

from splittui.explore import Chunk, chunks, parse_grid, run_chunk
from splittui.model import Scenario
from splittui.solvers import solve

tomllib = pytest.importorskip("tomllib", reason="grid files are TOML: Python 3.11+")

GRID = """\
model = ["llama-3.2-1b", "qwen2.5-0.5b"]
client_device = ["orin", "rpi5"]
server_device = "a100"
dtype = ["bf16", "int4"]
bandwidth_mbps = [20, [100, 10]]
seq_len = [128, 512]
gen_tokens = [0, 16]
deadline_ms = [500, 3000]
solver = ["dp", "greedy"]
chunk_cells = 12
"""
N_CELLS = 2 * 2 * 2 * 2 * 2 * 2 * 2 * 2


@pytest.fixture
def grid_file(tmp_path):
    p = tmp_path / "grid.toml"
    p.write_text(GRID)
    return p


def _rows(path):
    from splittui.commands.explore_exec import read_rows

    return read_rows(path)


def _run(capsys, grid_file, out, *extra):
    rc, _, err = run_cli(["explore", grid_file, "--out", out, *extra], capsys)
    assert rc == 0, err
    return _rows(out)


def test_cells_match_the_public_api():
    from splittui.llm import load_any

    grid = parse_grid(tomllib.loads(GRID))
    assert grid.n_cells == N_CELLS and grid.n_profiles == 8
    got = [r for c in chunks(grid) for r in run_chunk(grid, c)]
    assert [r["cell"] for r in got] == list(range(N_CELLS))
    r = got[-1]   # qwen, rpi5, int4, 100/10 Mbit/s, seq 512, N 16, deadline 3000, greedy
    assert (r["model"], r["client_device"], r["server_device"], r["solver"]) == \
        ("qwen2.5-0.5b", "raspberry-pi-5", "a100-80gb", "greedy")
    prof = load_any("qwen2.5-0.5b", dtype="int4", client_device="raspberry-pi-5", server_device="a100-80gb",
                    include_seq=[128, 512])
    res = solve(prof, Scenario(deadline_ms=3000, up_mbps=100, down_mbps=10, seq_len=512, gen_tokens=16), "greedy")
    assert (r["feasible"], r["server_share"], r["latency_ms"], r["tpot_ms"]) == \
        (res.feasible, res.server_share, res.latency_ms, res.tpot_ms)
    assert r["profile_sha256"] == prof.sha256 and r["splittui_version"]


def test_chunks_share_one_profile_and_cover_every_cell_once():
    grid = parse_grid(tomllib.loads(GRID))
    cs = chunks(grid)
    covered = [i for c in cs for i in range(c.start, c.stop)]
    assert covered == list(range(N_CELLS))
    for c in cs:
        keys = {tuple(grid.cell(i)[a] for a in ("model", "client_device", "dtype")) for i in range(c.start, c.stop)}
        assert len(keys) == 1 and c.n_cells % grid.n_solvers == 0
    assert chunks(grid, skip=frozenset(range(cs[0].stop))) == cs[1:]
    assert run_chunk(grid, Chunk(0, 4), frozenset({1, 2})) == [r for r in run_chunk(grid, Chunk(0, 4))
                                                              if r["cell"] in (0, 3)]


def test_serial_processes_and_dask_give_identical_tables(capsys, grid_file, tmp_path):
    serial = _run(capsys, grid_file, tmp_path / "s.parquet", "--executor", "serial")
    assert len(serial) == N_CELLS and sum(r["feasible"] for r in serial) > 0
    pool = _run(capsys, grid_file, tmp_path / "p.parquet", "--executor", "processes", "--workers", "2")
    assert pool == serial
    csv_rows = _run(capsys, grid_file, tmp_path / "s.csv", "--executor", "serial")
    assert csv_rows == serial


def test_default_is_the_process_pool_and_the_closing_lines_give_cpu_time(capsys, grid_file, tmp_path):
    """The first stderr line says the pool is the default; the closing lines give cells/s and the CPU time a
    cell, most of it in the workers (counted once they have exited), which a loaded machine does not inflate."""
    import re

    rc, _, err = run_cli(["explore", grid_file, "--out", tmp_path / "d.parquet", "--workers", "2"], capsys)
    lines = err.splitlines()
    assert rc == 0 and "on a process pool of 2 (the default; --executor dask for a LocalCluster)" in lines[0], err
    m = re.search(r"CPU ([\d.]+) ms a cell \(([\d.]+) in the workers, ([\d.]+) in this process\); "
                  r"([\d.]+) of 2 cores used", err)
    assert m, err
    total, workers, here = (float(m[i]) for i in (1, 2, 3))
    assert total == pytest.approx(workers + here, abs=0.011) and workers > here and workers > 0.1
    rc, _, err = run_cli(["explore", grid_file, "--out", tmp_path / "s.parquet", "--executor", "serial"], capsys)
    assert rc == 0 and re.search(r"CPU [\d.]+ ms a cell \(this process\); [\d.]+ of 1 core used", err), err


@pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                    reason="dask.distributed is not installed (pip install 'splittui[explore]')")
def test_dask_local_cluster_gives_the_serial_table(capsys, grid_file, tmp_path):
    serial = _run(capsys, grid_file, tmp_path / "s.parquet", "--executor", "serial")
    on_dask = _run(capsys, grid_file, tmp_path / "d.parquet", "--executor", "dask", "--workers", "2")
    assert on_dask == serial


@pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                    reason="dask.distributed is not installed (pip install 'splittui[explore]')")
def test_scheduler_address_runs_on_an_existing_cluster(capsys, grid_file, tmp_path):
    from distributed import LocalCluster

    serial = _run(capsys, grid_file, tmp_path / "s.parquet", "--executor", "serial")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote = _run(capsys, grid_file, tmp_path / "r.parquet", "--scheduler", cluster.scheduler_address)
    assert remote == serial


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_resume_after_ctrl_c_completes_without_duplicates(capsys, grid_file, tmp_path, monkeypatch, suffix):
    from splittui.commands import explore_exec

    full = _run(capsys, grid_file, tmp_path / "full.parquet", "--executor", "serial")
    out = tmp_path / f"part.{suffix}"
    calls = []
    real_update = explore_exec.Progress.update

    def update(self, n):   # Ctrl-C while the third chunk's rows arrive
        calls.append(n)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real_update(self, n)

    monkeypatch.setattr(explore_exec.Progress, "update", update)
    rc, _, err = run_cli(["explore", grid_file, "--out", out, "--executor", "serial"], capsys)
    assert rc == 130 and "interrupted: kept" in err, err
    part = _rows(out)
    assert 0 < len(part) < N_CELLS and part == full[:len(part)]
    monkeypatch.setattr(explore_exec.Progress, "update", real_update)
    rc, _, err = run_cli(["explore", grid_file, "--out", out, "--executor", "serial"], capsys)
    assert rc == 2 and "--resume" in err                       # never replaced silently
    done = _run(capsys, grid_file, out, "--executor", "processes", "--workers", "2", "--resume")
    assert [r["cell"] for r in done] == list(range(N_CELLS)) and done == full


def test_resume_refuses_a_table_of_another_grid(capsys, grid_file, tmp_path):
    out = tmp_path / "g.parquet"
    _run(capsys, grid_file, out, "--executor", "serial")
    grid_file.write_text(GRID.replace("[500, 3000]", "[500, 4000]"))
    rc, _, err = run_cli(["explore", grid_file, "--out", out, "--resume"], capsys)
    assert rc == 2 and "another grid" in err


@pytest.mark.parametrize("text, says", [
    ("modle = ['gpt2-like']", "unknown axis 'modle'"),
    ("seq_len = []", "axis 'seq_len' is empty"),
    ("seq_len = ['long']", "seq_len: bad value 'long'"),
    ("bandwidth_mbps = [-5]", "bandwidth_mbps: bad value -5"),
    ("client_device = ['toaster']", "unknown device 'toaster'"),
    ("dtype = ['fp8']", "dtype: bad value 'fp8'"),
    ("solver = ['magic']", "solver: bad value 'magic'"),
    ("model = ['no-such-model']", "model: bad value 'no-such-model'"),
    ("keep = ['speed']", "keep: unknown figure 'speed'"),
    ("seq_len = [1, 1]", "given twice"),
    ("radio = ['carrier-pigeon']", "radio: bad value 'carrier-pigeon'"),
    ("seq_len = [", "not valid TOML"),
])
def test_bad_grid_is_one_line_exit_2(capsys, tmp_path, text, says):
    p = tmp_path / "bad.toml"
    p.write_text(text + "\n")
    rc, out, err = run_cli(["explore", p, "--out", tmp_path / "o.parquet"], capsys)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("splittui: error:") and says in err, err
    assert not (tmp_path / "o.parquet").exists()


def test_dry_run_and_summary(capsys, grid_file, tmp_path):
    rc, out, _ = run_cli(["explore", grid_file, "--dry-run"], capsys)
    assert rc == 0 and f"{N_CELLS} cells" in out and "estimate:" in out
    out_file = tmp_path / "s.parquet"
    _run(capsys, grid_file, out_file, "--executor", "serial")
    rc, out, _ = run_cli(["explore", "--summary", out_file], capsys)
    assert rc == 0 and "least server work" in out and "client_device" in out and "raspberry-pi-5" in out


ENERGY_GRID = """\
model = "llama-3.2-1b"
client_device = ["phone-soc", "orin"]
server_device = "a100"
seq_len = 256
gen_tokens = 16
deadline_ms = 20000
radio = ["wifi", "lte"]
objective = ["flops", "client_energy"]
solver = ["exact", "greedy"]
keep = ["feasible", "server_share", "latency_ms", "client_energy_j", "client_j_per_token", "server_energy_j"]
"""


def test_energy_figures_and_the_radio_axis(capsys, tmp_path):
    """issue 30 item 1: client energy (estimates) as kept figures and the radio as an axis; each row's
    joules are what `solve` gives that cell."""
    p = tmp_path / "e.toml"
    p.write_text(ENERGY_GRID)
    rows = _run(capsys, p, tmp_path / "e.csv", "--executor", "serial")
    assert len(rows) == 16 and {r["radio"] for r in rows} == {"wifi", "lte"}
    from splittui.llm import load_any

    profs = {d: load_any("llama-3.2-1b", client_device=d, server_device="a100-80gb", include_seq=[256, 271])
             for d in {r["client_device"] for r in rows}}
    for r in rows:
        res = solve(profs[r["client_device"]], Scenario(deadline_ms=20000, seq_len=256, gen_tokens=16,
                                                        radio=r["radio"], objective=r["objective"]), r["solver"])
        assert r["server_share"] == pytest.approx(res.server_share)
        assert r["client_energy_j"] == pytest.approx(res.client_energy_j)
        assert r["client_j_per_token"] == pytest.approx(res.client_j_per_token)
        assert r["server_energy_j"] == pytest.approx(res.server_energy_j)
    # the radio is an axis that counts: least client energy sends everything over Wi-Fi, nothing over LTE
    by = {(r["client_device"], r["objective"], r["radio"], r["solver"]): r for r in rows}
    wifi, lte = by[("phone-soc", "client_energy", "wifi", "exact")], by[("phone-soc", "client_energy", "lte", "exact")]
    assert wifi["client_energy_j"] < lte["client_energy_j"] and wifi["server_share"] != lte["server_share"]
    rc, out, _ = run_cli(["explore", "--summary", tmp_path / "e.csv"], capsys)
    assert rc == 0 and "least client energy" in out and "radio" in out
    lte_line = next(line for line in out.splitlines() if line.startswith("│ lte "))
    least_lte = min(r["client_energy_j"] for r in rows if r["radio"] == "lte")
    assert f"{least_lte:#.3g} J (estimate)" in lte_line, out   # the radio's table: its least client energy


def test_summary_writes_png_plots_and_keeps_existing_ones(capsys, tmp_path):
    """issue 30 item 3: --summary writes TABLE.front.png (and .energy.png where energy was kept) through
    matplotlib; an existing plot is kept unless --force; without matplotlib one line says so."""
    pytest.importorskip("matplotlib", reason="the 'plots' extra")
    p = tmp_path / "e.toml"
    p.write_text(ENERGY_GRID)
    table = tmp_path / "e.parquet"
    _run(capsys, p, table, "--executor", "serial")
    rc, _, err = run_cli(["explore", "--summary", table], capsys)
    pngs = [tmp_path / "e.parquet.front.png", tmp_path / "e.parquet.energy.png"]
    assert rc == 0 and all(f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in pngs), err
    stamp = [f.stat().st_mtime_ns for f in pngs]
    rc, _, err = run_cli(["explore", "--summary", table], capsys)
    assert rc == 0 and err.count("kept the existing") == 2 and [f.stat().st_mtime_ns for f in pngs] == stamp
    rc, _, err = run_cli(["explore", "--summary", table, "--force"], capsys)
    assert rc == 0 and err.count("wrote") == 2


def test_summary_without_matplotlib_says_so(capsys, tmp_path, monkeypatch):
    p = tmp_path / "e.toml"
    p.write_text(ENERGY_GRID)
    table = tmp_path / "e.csv"
    _run(capsys, p, table, "--executor", "serial")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    rc, out, err = run_cli(["explore", "--summary", table], capsys)
    assert rc == 0 and "PNG plots need matplotlib" in err and "least server work" in out
    assert not list(tmp_path.glob("*.png"))


def test_axis_rows_per_value_against_a_plain_count():
    """The summary's per-axis table (numpy reductions) against counting row by row: cells, feasible share,
    least latency and server share over feasible cells (an absent figure counts as none), front points."""
    import random

    from splittui.explore import axis_rows, pareto_front

    rng = random.Random(30)
    rows = [{"cell": i, "dtype": rng.choice(["int4", "bf16", "int8"]), "feasible": rng.random() < 0.7,
             "latency_ms": None if rng.random() < 0.1 else rng.uniform(10, 900),
             "server_share": rng.choice([0.0, 0.25, 0.5, 1.0]),
             "client_energy_j": None if rng.random() < 0.2 else rng.uniform(0.1, 50)} for i in range(400)]
    rows[0].update(dtype="fp32", feasible=False)   # a value with no feasible cell: no least figures
    front = pareto_front(rows, "latency_ms", "server_share")
    got = axis_rows(rows, "dtype", "latency_ms", "server_share", extra=("client_energy_j",))
    assert [g["value"] for g in got] == list(dict.fromkeys(r["dtype"] for r in rows))
    for g in got:
        mine = [r for r in rows if r["dtype"] == g["value"]]
        ok = [r for r in mine if r["feasible"]]
        lat = [r["latency_ms"] for r in ok if r["latency_ms"] is not None]
        assert g["cells"] == len(mine) and g["feasible"] == len(ok) / len(mine)
        assert g["least latency_ms"] == min(lat, default=None)
        assert g["least server_share"] == min((r["server_share"] for r in ok), default=None)
        assert g["least client_energy_j"] == min((r["client_energy_j"] for r in ok
                                                  if r["client_energy_j"] is not None), default=None)
        assert g["on front"] == sum(r["dtype"] == g["value"] for r in front)


def test_core_module_stays_pure():
    code = ("import sys, splittui.explore; bad = [m for m in ('textual', 'rich', 'torch', 'dask', 'distributed', "
            "'pyarrow') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_a_refused_cell_is_a_row_with_its_error_and_spares_the_others(capsys, tmp_path):
    p = tmp_path / "g.toml"
    p.write_text('model = "llama-3.2-1b"\nseq_len = [512, 200000]\nttft_limit_ms = ["none", 5000]\n')
    rows = _run(capsys, p, tmp_path / "o.parquet", "--executor", "serial")
    assert [bool(r["error"]) for r in rows] == [False, True, True, True]
    assert rows[0]["feasible"] and not rows[1]["feasible"] and "above the deadline" in rows[1]["error"]
    assert rows[1]["server_share"] is None and "outside the profile's range" in rows[2]["error"]

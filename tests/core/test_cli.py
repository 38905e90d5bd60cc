"""`splittui solve` / `splittui evaluate` end to end: human output, exit codes, and two real subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from cli_runner import run_cli as cli

import splittui
from splittui.solvers import SOLVERS


def test_solve_prints_a_table_with_every_solver(capsys):
    rc, out, err = cli(["solve", "--model", "gpt2-like", "--deadline-ms", "1500", "--up-mbps", "100"], capsys)
    assert rc == 0, err
    for name in SOLVERS:
        if name != "brute-force":
            assert name in out
    for header in ("server", "client", "latency", "greedy"):
        assert header in out
    assert "C client" in out and "S server" in out  # placement strips: letters, as capsys is no terminal


def _least_ms() -> float:
    profile = splittui.load_profile("gpt2-like")
    return splittui.solve(profile, splittui.Scenario(deadline_ms=1.0), "greedy").min_latency_ms


def test_solve_table_reports_infeasible_with_least_latency(capsys):
    least = _least_ms()
    rc, out, err = cli(["solve", "--model", "gpt2-like", "--deadline-ms", least / 2], capsys)
    assert rc == 0
    assert "infeasible" in out and f"{least:,.1f}" in " ".join(out.split())


def test_solve_one_solver_on_a_user_profile(tmp_path, capsys):
    doc = {"schema": "splittui.profile/1", "model": "mine", "seq_lens": [64], "output_bytes": [100.0],
           "layers": [{"name": f"l{i}", "kind": "linear", "flops": [float(i + 1)], "client_ms": [3.0],
                       "server_ms": [1.0], "in_bytes": [1000.0]} for i in range(6)]}
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(doc))
    rc, out, err = cli(["solve", "--profile", path, "--deadline-ms", "40", "--solver", "brute-force", "--json"],
                       capsys)
    assert rc == 0, err
    got = json.loads(out)
    want = splittui.solve(splittui.load_profile(path), splittui.Scenario(deadline_ms=40, seq_len=64), "exact")
    assert got["solver"] == "brute-force" and got["feasible"]
    assert got["server_load"] == pytest.approx(want.server_load)


def test_evaluate_human_output_and_exit_status(tmp_path, capsys):
    path = tmp_path / "p.json"
    assert cli(["solve", "--model", "gpt2-like", "--solver", "dp", "--out", path], capsys)[0] == 0
    rc, out, err = cli(["evaluate", "--policy", path], capsys)
    assert rc == 0 and "dp" in out and "re-scored" in out
    rc, out, err = cli(["evaluate", "--policy", path, "--deadline-ms", _least_ms() / 2], capsys)
    assert rc == 1 and "infeasible" in out


def test_help_and_version(capsys):
    rc, out, _ = cli(["--help"], capsys)
    assert rc == 0 and "solve" in out and "evaluate" in out
    rc, out, _ = cli(["--version"], capsys)
    assert rc == 0 and splittui.__version__ in out
    rc, out, _ = cli(["solve", "--help"], capsys)
    assert rc == 0 and "--deadline-ms" in out and "--unit-ms" in out


def _run(*args):
    return subprocess.run([sys.executable, "-m", "splittui", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def test_subprocess_solve_json():
    proc = _run("solve", "--model", "gpt2-like", "--deadline-ms", "1500", "--up-mbps", "100", "--solver", "dp",
                "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "splittui.policy/2" and doc["feasible"]


def test_subprocess_bad_profile_is_one_line_exit_2(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"schema": "splittui.profile/1", "model": "x", "seq_lens": [1], "output_bytes": [1],'
                    ' "layers": [{"name": "a", "flops": [1], "client_ms": [-2], "server_ms": [1], "in_bytes": [1]}]}')
    proc = _run("solve", "--profile", path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert str(path) in lines[0] and "layers[0] (a).client_ms" in lines[0]

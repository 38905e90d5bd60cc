"""`splittui run` end to end on the toy model: JSON rows, Ctrl-C, and a torch-free command module."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from splittui.cli import main

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SPLITTUI_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_run_prints_measured_beside_predicted(cache, capsys):
    code = main(["run", "--model", "runner-toy", "--seq", "32", "--solver", "attention-server",
                 "--delay-ms", "1", "--up-mbps", "200", "--repeats", "2", "--profile-repeats", "2", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert code == 0 and len(rows) == 1
    row = rows[0]
    assert row["output_matches_unsplit"] is True
    assert row["transfers"] == 4 and row["measured_ms"] > 0 and row["predicted_ms"] > 0
    assert row["measured_breakdown_ms"]["upload"] >= 2 * 1.0  # two uploads, each after the 1 ms delay
    assert list(cache.glob("runner-toy-s32-client1-cpu*.json"))  # the prediction profile was cached


def test_bad_policy_file_is_one_line_error(cache, tmp_path, capsys):
    bad = tmp_path / "p.json"
    bad.write_text(json.dumps({"schema": "splittui.policy/1", "model": "runner-toy", "feasible": True,
                               "policy": [1, 0, 1]}))
    code = main(["run", "--model", "runner-toy", "--seq", "16", "--policy", str(bad), "--profile-repeats", "1"])
    assert code == 2 and "policy has 3 entries" in capsys.readouterr().err


def test_command_module_does_not_import_torch():
    code = "import sys, splittui.commands.run, splittui.cli; splittui.cli.build_parser(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_ctrl_c_ends_every_process(cache):
    cmd = [sys.executable, "-m", "splittui", "run", "--model", "runner-toy", "--seq", "16", "--solver",
           "no-split", "--delay-ms", "100", "--repeats", "1000", "--profile-repeats", "1"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            start_new_session=True, env={**ENV, "SPLITTUI_CACHE_DIR": str(cache)})
    try:
        for line in proc.stderr:
            if "timed requests" in line:
                break
        time.sleep(1.0)  # inside the timed requests now: client and server both busy
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
        assert proc.wait(20) == 130
        end = time.monotonic() + 10
        while _group_alive(proc.pid) and time.monotonic() < end:
            time.sleep(0.1)
        assert not _group_alive(proc.pid), "a process of the run outlived Ctrl-C"
    finally:
        if proc.poll() is None or _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)


def test_figure_runs_the_four_placements_and_draws_the_chart(cache, capsys):
    code = main(["run", "--figure", "--model", "runner-toy", "--seqs", "8,16", "--bandwidths", "200",
                 "--delay-ms", "1", "--repeats", "1", "--profile-repeats", "1", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert code == 0
    assert sorted((r["seq_len"], r["label"]) for r in rows) == sorted(
        (s, p) for s in (8, 16) for p in ("all-client", "attention-server", "attention-client", "dp"))
    assert all(r["output_matches_unsplit"] for r in rows)
    by = {(r["seq_len"], r["label"]): r for r in rows}
    assert by[(8, "all-client")]["transfers"] == 0 and by[(8, "attention-server")]["transfers"] == 4


def test_figure_chart_has_one_panel_per_bandwidth():
    from types import SimpleNamespace

    from splittui.runner.figure import _plain, figure_chart

    def row(label, seq, bw, pred, meas):
        case = SimpleNamespace(label=label, scenario=SimpleNamespace(seq_len=seq, up_mbps=bw))
        return SimpleNamespace(case=case, prediction=SimpleNamespace(latency_ms=pred), measured={"total_ms": meas})

    rows = [row(p, s, bw, s * 1.0, s * 1.1) for p in ("all-client", "dp") for s in (8, 16) for bw in (10, 100)]
    chart = _plain(figure_chart(rows, width=100, height=20))
    assert "10 Mbit/s" in chart and "100 Mbit/s" in chart and "D/d dp" in chart

"""`splittui run` end to end on the toy model: the planning profile, the --json document, both links,
clean-up of the kernel link on exit, error and Ctrl-C, and a torch-free command module."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from runner_helpers import DEFAULT_RUN, run_main

from splittui.cli import main
from splittui.runner.kernel_link import KernelLink, kernel_link_available, our_namespaces

ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}
KERNEL_OK, KERNEL_WHY = kernel_link_available()
needs_kernel = pytest.mark.skipif(not KERNEL_OK, reason=f"kernel link not permitted here: {KERNEL_WHY}")
TOY = ["--model", "runner-toy", "--seq", "16", "--delay-ms", "1", "--up-mbps", "200", "--repeats", "2"]


@pytest.fixture(scope="module")
def plan(toy_plan_16_32):
    return toy_plan_16_32


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SPLITTUI_CACHE_DIR", str(tmp_path))
    return tmp_path


def _mine() -> list[str]:
    """Namespaces made by this (test) process: an in-process run's KernelLink names them by our pid."""
    return [ns for ns in our_namespaces() if ns.startswith(f"splt-{os.getpid()}-")]


def _run_json(capsys, *args: str) -> dict:
    code = main(["run", *TOY, "--json", *args])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    return doc


PACED = ("--solver", "attention-server", "--link", "paced")


@pytest.fixture(scope="module")
def paced_doc(plan) -> dict:
    """`_run_json(capsys, "--profile", plan, *PACED)`, run once for the three tests that read its document."""
    ran = run_main(["run", *TOY, "--json", "--profile", str(plan), *PACED])
    assert ran.code == 0, ran.err[-800:]
    return json.loads(ran.out)


def _check_doc(doc: dict, plan_path) -> None:
    assert doc["schema"] == "splittui.run/1"
    assert doc["planning_profile"]["path"] == str(plan_path)
    assert doc["planning_profile"]["sha256"] == hashlib.sha256(plan_path.read_bytes()).hexdigest()
    assert doc["client"].startswith("1 thread") and doc["server"].startswith("cpu:")
    (row,) = doc["rows"]
    for key in ("solver", "policy", "transfers", "predicted_ms", "measured_ms", "error_pct", "composition_ms"):
        assert key in row
    assert row["output_matches_unsplit"] is True
    assert set(row["policy"]) <= {0, 1} and row["transfers"] == 4  # attention-server: two attention cores


def test_paced_link_run_matches_unsplit_and_names_its_plan(plan, paced_doc):
    doc = paced_doc
    assert doc["link"] == "paced"
    _check_doc(doc, plan)
    assert doc["rows"][0]["measured_breakdown_ms"]["upload"] >= 2 * 1.0  # two uploads, each after the 1 ms delay


@needs_kernel
def test_kernel_link_run_matches_unsplit_and_cleans_up(plan, capsys):
    doc = _run_json(capsys, "--profile", str(plan), "--solver", "attention-server", "--link", "kernel")
    assert doc["link"] == "kernel" and "tbf" in doc["link_detail"]
    _check_doc(doc, plan)
    assert not _mine()


def test_doubled_server_times_double_the_predicted_server_part(plan, paced_doc, tmp_path, capsys):
    """Fails if the prediction took any time from the run: only the planning file changes here."""
    doubled = json.loads(plan.read_text())
    for layer in doubled["layers"]:
        layer["server_ms"] = [2.0 * v for v in layer["server_ms"]]
    path = tmp_path / "doubled.json"
    path.write_text(json.dumps(doubled))
    rows = [paced_doc["rows"][0], _run_json(capsys, "--profile", str(path), *PACED)["rows"][0]]
    one, two = (r["predicted_breakdown_ms"] for r in rows)
    assert two["server"] == pytest.approx(2.0 * one["server"]) and one["server"] > 0
    assert two["client"] == pytest.approx(one["client"]) and two["upload"] == pytest.approx(one["upload"])
    gap = rows[1]["predicted_ms"] - rows[0]["predicted_ms"]
    assert gap == pytest.approx(one["server"], abs=0.02)


def test_planning_profile_carries_the_measured_transfer_overhead_and_the_run_uses_it(plan, paced_doc):
    measured = json.loads(plan.read_text())["transfer"]["overhead_ms"]
    assert measured > 0  # `splittui profile --server cpu:1` echoed frames to a separate process
    row = paced_doc["rows"][0]
    assert row["overhead_ms_per_transfer"]["planned"] == measured
    parts = sum(row["predicted_breakdown_ms"].values())
    assert row["predicted_ms"] == pytest.approx(parts + measured * row["transfers"], abs=0.02)


def test_default_planning_profile_is_measured_by_a_separate_profile_process(toy_default_run):
    """`splittui run` with no --profile (DEFAULT_RUN: TOY, no-split, paced, --profile-repeats 1, --json), run
    once into an empty cache folder by the session fixture that test_planning_timing's cache tests share."""
    assert DEFAULT_RUN == ["run", *TOY, "--solver", "no-split", "--link", "paced", "--profile-repeats", "1", "--json"]
    ran, cache = toy_default_run, toy_default_run.cache
    code, doc = ran.code, json.loads(ran.out)
    assert code == 0 and "splittui profile --module splittui.runner.toy:build_toy" in ran.err
    path = cache / "runner-toy-s16-client1-cpu{}.json".format(doc["server"].split()[0].split(":")[1])
    assert doc["planning_profile"]["path"] == str(path) and path.exists()
    assert doc["planning_profile"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    # its transfer overhead was measured against the profile's own server process (no third torch process)
    assert "the profile's own server process" in json.loads(path.read_text())["transfer"]["method"]


def test_fractional_deadline_picks_the_policy_on_the_planning_profile(plan, capsys):
    doc = _run_json(capsys, "--profile", str(plan), "--solver", "dp", "--deadline", "1.5x", "--link", "paced")
    row = doc["rows"][0]
    all_client = sum(layer["client_ms"][0] for layer in json.loads(plan.read_text())["layers"])
    assert row["deadline_ms"] == pytest.approx(1.5 * all_client, abs=0.06)


def test_bad_policy_file_is_one_line_error(plan, tmp_path, capsys):
    bad = tmp_path / "p.json"
    bad.write_text(json.dumps({"schema": "splittui.policy/1", "model": "runner-toy", "feasible": True,
                               "policy": [1, 0, 1]}))
    code = main(["run", *TOY, "--profile", str(plan), "--policy", str(bad)])
    assert code == 2 and "policy has 3 entries" in capsys.readouterr().err


@needs_kernel
def test_kernel_link_is_removed_on_error(plan, tmp_path, capsys):
    with pytest.raises(RuntimeError):
        with KernelLink() as link:
            assert {link.client_ns, link.server_ns} <= set(our_namespaces())
            raise RuntimeError("boom")
    assert not {link.client_ns, link.server_ns} & set(our_namespaces())
    # through the CLI: a planning profile of another model (the toy's, one stage short: its layer count is
    # checked against the live server's stages only once the link and both processes are up) fails inside it
    other = tmp_path / "other.json"
    doc = json.loads(plan.read_text())
    doc["layers"] = doc["layers"][:-1]
    other.write_text(json.dumps(doc))
    code = main(["run", *TOY, "--profile", str(other), "--solver", "no-split", "--link", "kernel"])
    assert code == 2 and "layers" in capsys.readouterr().err
    assert not _mine()


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


def _as_from_a_terminal(cmd: list[str], **kwargs) -> subprocess.Popen:
    """Start `cmd` with SIGINT at its default, as a terminal starts a foreground command. A test run
    from a background job (CI harnesses, `cmd &`) has SIGINT ignored, a child inherits that, and Python
    keeps an inherited SIG_IGN: the run never saw the Ctrl-C (its stacks showed it waiting in select,
    no KeyboardInterrupt). A Python-level handler here is reset to the default in the child at exec."""
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(cmd, **kwargs)
    finally:
        signal.signal(signal.SIGINT, old)


@pytest.mark.parametrize("link", ["paced", pytest.param("kernel", marks=needs_kernel)])
def test_ctrl_c_ends_every_process_and_removes_the_link(plan, link):
    """Ctrl-C (SIGINT to the whole group) ends the run with 130, leaves no process and no namespace.
    A hang fails with every thread's stack of the run (SIGABRT with faulthandler on)."""
    cmd = [sys.executable, "-m", "splittui", "run", "--model", "runner-toy", "--seq", "16", "--solver",
           "no-split", "--delay-ms", "100", "--repeats", "1000", "--profile", str(plan), "--link", link]
    proc = _as_from_a_terminal(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                               start_new_session=True, env={**ENV, "PYTHONFAULTHANDLER": "1"})
    lines: list[str] = []
    try:
        for line in proc.stderr:
            lines.append(line)
            if "timed requests" in line:
                break
        # keep reading: a full stderr pipe would block the run in write() and it could never finish Ctrl-C
        drain = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
        drain.start()
        time.sleep(0.5)  # inside the timed requests now (100 ms a request): client and server both busy
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGABRT)  # faulthandler writes every thread's stack to stderr
            proc.wait(10)
            drain.join(5)
            pytest.fail("the run did not exit within 30 s of Ctrl-C; its stderr ends:\n" + "".join(lines)[-3000:])
        assert code == 130
        end = time.monotonic() + 10
        while _group_alive(proc.pid) and time.monotonic() < end:
            time.sleep(0.1)
        assert not _group_alive(proc.pid), "a process of the run outlived Ctrl-C"
        assert not [ns for ns in our_namespaces() if ns.startswith(f"splt-{proc.pid}-")]
    finally:
        if proc.poll() is None or _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)


def test_figure_runs_the_four_placements_and_draws_the_chart(cache, capsys):
    code = main(["run", "--figure", "--model", "runner-toy", "--seqs", "8,16", "--bandwidths", "200",
                 "--delay-ms", "1", "--repeats", "1", "--profile-repeats", "1", "--link", "paced", "--json"])
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert code == 0
    assert sorted((r["seq_len"], r["solver"]) for r in rows) == sorted(
        (s, p) for s in (8, 16) for p in ("all-client", "attention-server", "attention-client", "dp"))
    assert all(r["output_matches_unsplit"] for r in rows)
    by = {(r["seq_len"], r["solver"]): r for r in rows}
    assert by[(8, "all-client")]["transfers"] == 0 and by[(8, "attention-server")]["transfers"] == 4


def test_figure_chart_has_one_panel_per_bandwidth():
    from types import SimpleNamespace

    from splittui.runner.experiments import _plain, figure_chart

    def row(label, seq, bw, pred, meas):
        case = SimpleNamespace(label=label, scenario=SimpleNamespace(seq_len=seq, up_mbps=bw))
        return SimpleNamespace(case=case, planned=SimpleNamespace(latency_ms=pred), measured={"total_ms": meas})

    rows = [row(p, s, bw, s * 1.0, s * 1.1) for p in ("all-client", "dp") for s in (8, 16) for bw in (10, 100)]
    chart = _plain(figure_chart(rows, width=100, height=20))
    assert "10 Mbit/s" in chart and "100 Mbit/s" in chart and "D/d dp" in chart


def test_attention_figure_runs_each_variant_and_placement_and_draws_the_chart(cache, capsys):
    variants = "full,lowrank:8,sparse:8"
    code = main(["run", "--figure", "attention", "--model", "bert-base", "--tiny", "--seqs", "16,32", "--variants",
                 variants, "--deadlines", "0.6x,0.9x", "--up-mbps", "200", "--delay-ms", "1", "--repeats", "1",
                 "--profile-repeats", "1", "--server-threads", "1", "--link", "paced", "--markdown"])
    captured = capsys.readouterr()
    out = captured.out
    assert code == 0, captured.err[-600:]
    assert "splitCPU" in out and "splitGPU not run" in out
    table = [line for line in out.splitlines() if line.startswith("| bert-base")]
    for variant in variants.split(","):
        name = "bert-base" if variant == "full" else f"bert-base@{variant.replace(':', '-')}"
        for label in ("all-client", "attention-server"):
            assert sum(f"| {name} |" in line and f"| {label} |" in line for line in table) == 2  # both lengths
    for label in ("dp 0.6x", "dp 0.9x"):  # measured, or shown as infeasible with its reason: never dropped
        assert sum(f"| {label} |" in line for line in table) == 2 * len(variants.split(","))
    assert all(line.rstrip().endswith("| yes |") or "| infeasible: " in line for line in table)
    assert "A/a all-client" in out and "E/e attention-server" in out


@pytest.mark.parametrize("variant, words", [("lowrank:0", "between 1"), ("dense:4", "unknown attention variant")])
def test_bad_attention_variant_is_one_line_before_anything_starts(cache, capsys, variant, words):
    code = main(["run", "--figure", "attention", "--model", "bert-base", "--tiny", "--seqs", "16", "--variants",
                 variant, "--repeats", "1", "--profile-repeats", "1", "--link", "paced"])
    err = capsys.readouterr().err
    assert code == 2 and words in err and "Traceback" not in err and "planning profile" not in err


def test_a_one_panel_chart_before_leaves_the_next_figure_its_panels():
    """plotext 5 keeps a 1x1 grid after clear_figure: a figure drawn after a one-panel one must still
    title each of its panels (it drew both into panel 1 before open_panels)."""
    from types import SimpleNamespace

    from splittui.runner.experiments import _plain, figure_chart

    def row(seq, bw):
        case = SimpleNamespace(label="dp", scenario=SimpleNamespace(seq_len=seq, up_mbps=bw))
        return SimpleNamespace(case=case, planned=SimpleNamespace(latency_ms=seq), measured={"total_ms": seq})

    figure_chart([row(8, 10), row(16, 10)], width=60, height=12)  # one panel
    chart = _plain(figure_chart([row(s, bw) for s in (8, 16) for bw in (10, 100)], width=100, height=20))
    assert "10 Mbit/s" in chart and "100 Mbit/s" in chart

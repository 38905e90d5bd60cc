"""`splittui run` over a chain of tiers (issue 28 item 5): one process per tier, a namespace each, a veth pair
per hop; outputs equal the unsplit model's; namespaces removed after a run, an error and SIGTERM; bad
topology input is one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from runner_helpers import once_per_run, toy_plan

from splittui.cli import main
from splittui.policy import POLICY_SCHEMA
from splittui.runner.kernel_link import kernel_link_available, our_namespaces

KERNEL_OK, KERNEL_WHY = kernel_link_available()
needs_kernel = pytest.mark.skipif(not KERNEL_OK, reason=f"kernel link not permitted here: {KERNEL_WHY}")
TIERS = ["--tier", "phone=phone-soc", "--tier", "edge", "--tier", "cloud=a100-80gb", "--hop", "200/400/1",
         "--hop", "400/800/2"]
TOY = ["--model", "runner-toy", "--seq", "16", "--repeats", "2"]


@pytest.fixture(scope="module")
def plan(tmp_path_factory, worker_id):
    return once_per_run(tmp_path_factory, worker_id, "toy-plan-16", lambda f: toy_plan(f, "16", repeats=1)) / "toy.json"


def _tier_namespaces(pid: int) -> list[str]:
    return [ns for ns in our_namespaces() if ns.startswith(f"splt-{pid}-t")]


def _crossings(policy: list[int], k: int) -> tuple[list[int], list[int]]:
    """Hops crossed per direction when the input starts and the answer ends on tier 0."""
    up, down = [0] * (k - 1), [0] * (k - 1)
    path = [0, *policy, 0]
    for i, j in zip(path, path[1:]):
        for h in range(min(i, j), max(i, j)):
            (up if j > i else down)[h] += 1
    return up, down


def test_three_tier_outputs_equal_the_unsplit_model_on_gpt2_tiny():
    """Every tier and both hops used, jumps 0 → 2 and 2 → 0 relayed by the middle tier: the logits equal the
    unsplit forward's, the argmax tokens exactly, and each hop is crossed as the policy says."""
    from splittui.runner.chains import ChainSpec
    from splittui.runner.tier_link import PacedTiers, TierLink
    from splittui.runner.tier_session import TierSession
    from splittui.tiers import Hop

    hops = (Hop(500, 500, 0.5), Hop(500, 500, 0.5))
    link = TierLink(3) if KERNEL_OK else PacedTiers(3)
    with link, TierSession(ChainSpec("gpt2-like", tiny=True), link, server_threads=1) as session:
        n = session.stages
        policy = [(0, 2, 2, 1, 0, 1, 2, 0, 2, 1)[i % 10] for i in range(n)]
        assert set(policy) == {0, 1, 2} and policy[-1] != 0
        link.shape(hops)
        out = session.run({"seq": 16, "policy": policy, "links": [[*link.pace(h), h.delay_ms] for h in hops],
                           "repeats": 2})
        pid = os.getpid()
        if KERNEL_OK:
            assert len(_tier_namespaces(pid)) == 3
    assert out["match"] and out["same_tokens"] and out["max_abs_diff"] == 0.0
    up, down = _crossings(policy, 3)
    for run in out["runs"]:
        assert run["up_n"] == up and run["down_n"] == down
        assert all(ms > 0 for ms, n_ in zip(run["up_ms"] + run["down_ms"], up + down) if n_)
        assert all(ms > 0 for ms in run["compute_ms"])
    assert not _tier_namespaces(os.getpid())


@needs_kernel
def test_cli_run_with_a_policy_file_cleans_its_namespaces(plan, tmp_path, capsys):
    """A 3-tier policy from a file through `splittui run --json`: the document's rows, bytes as predicted,
    output equal to the unsplit forward, and no namespace of this process left."""
    tiers = [1, 3, 3, 2, 2, 1, 1, 3, 2, 2, 3]   # 1-based, 11 stages of runner-toy
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"schema": POLICY_SCHEMA, "model": "runner-toy", "policy": [int(t == 1) for t in tiers],
                                "tiers": {"policy": tiers}}))
    code = main(["run", *TOY, *TIERS, "--profile", str(plan), "--policy", str(path), "--json", "--link", "kernel"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert doc["schema"] == "splittui.run-tiers/1" and doc["link"] == "kernel"
    assert doc["policy"]["tiers"] == tiers and doc["output_matches_unsplit"] and doc["same_tokens"]
    hops = [r for r in doc["rows"] if r["kind"] == "hop"]
    assert len(hops) == 4 and len([r for r in doc["rows"] if r["kind"] == "compute"]) == 3
    for r in hops:   # what the profile says crosses each hop is what crossed it
        assert r["measured_crossings"] == r["predicted_crossings"] > 0
        assert r["measured_bytes"] == r["predicted_bytes"]
        assert r["measured_ms"] >= r["delay_ms"] * r["measured_crossings"]
    assert doc["total"]["predicted_ms"] > 0 and doc["total"]["measured_ms"] > 0
    assert not _tier_namespaces(os.getpid())


@needs_kernel
def test_an_error_inside_the_run_removes_the_namespaces(plan, capsys):
    """A profile of another model is found out once the tiers have started: one line, no namespace left."""
    code = main(["run", "--model", "gpt2-like", "--tiny", "--seq", "16", *TIERS, "--profile", str(plan),
                 "--solver", "no-split", "--link", "kernel"])
    err = capsys.readouterr().err
    assert code == 2 and "stages (a profile of another model?)" in err
    assert [line for line in err.splitlines() if line.startswith("splittui: error:")] and "Traceback" not in err
    assert not _tier_namespaces(os.getpid())


@needs_kernel
def test_sigterm_ends_every_tier_and_removes_the_namespaces(plan):
    cmd = [sys.executable, "-m", "splittui", "run", *TOY, *TIERS, "--profile", str(plan), "--solver", "no-split",
           "--repeats", "100000", "--link", "kernel"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: list[str] = []
    try:
        for line in proc.stderr:
            lines.append(line)
            if "timed requests" in line:
                break
        threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True).start()
        assert len(_tier_namespaces(proc.pid)) == 3, "".join(lines)
        time.sleep(0.5)   # inside the timed requests
        os.kill(proc.pid, signal.SIGTERM)   # the run's own process only: it must stop its tiers itself
        assert proc.wait(30) == 128 + signal.SIGTERM
        end = time.monotonic() + 10
        while _group_alive(proc.pid) and time.monotonic() < end:
            time.sleep(0.1)
        assert not _group_alive(proc.pid), "a tier process outlived SIGTERM"
        assert not _tier_namespaces(proc.pid)
    finally:
        if proc.poll() is None or _group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("flags, words", [
    (["--tier", "a", "--tier", "b", "--tier", "c", "--hop", "50/100"], "give UP/DOWN/DELAY"),
    (["--tier", "a", "--tier", "b", "--tier", "c", "--hop", "50/100/5"], "3 tiers need 2 hop(s)"),
    (["--tier", "a", "--tier", "b", "--hop", "0/100/5"], "up bandwidth 0 Mbit/s must be a finite number > 0"),
    ([f"--tier=t{i}" for i in range(5)] + ["--hop", "1/1/1"] * 4, "5 tier(s); give 2 to 4 tiers"),
    (["--tier", "a", "--tier", "a", "--hop", "1/1/1"], "tier names repeat"),
    (["--topology", "/nonexistent/topo.toml"], "--topology /nonexistent/topo.toml"),
    (["--tier", "a", "--tier", "b", "--hop", "1/1/1", "--solver", "greedy"], "over tiers, choose from"),
    (["--tier", "a", "--tier", "b", "--hop", "1/1/1", "--gen-tokens", "4"], "--gen-tokens over tiers"),
])
def test_bad_topology_input_is_one_line(flags, words, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("SPLITTUI_CACHE_DIR", str(tmp_path))   # nothing may be profiled before the error
    code = main(["run", "--model", "runner-toy", "--seq", "16", *flags])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("splittui: error:") and words in err, err
    assert not list(tmp_path.iterdir())


def test_bad_topology_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "t.toml"
    bad.write_text('[[tier]]\nname = "a"\n[[tier]]\nname = "b"\n[[hop]]\nup_mbps = "fast"\n')
    code = main(["run", "--model", "runner-toy", "--topology", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "each [[hop]] up_mbps" in err

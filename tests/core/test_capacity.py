"""Issue 27: the many-client server simulation against closed forms, and the capacity search."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from cli_runner import run_cli

from splittui.devices import resolve_device
from splittui.errors import SplittuiError
from splittui.llm import load_any
from splittui.model import Scenario
from splittui.sim.capacity import SimOptions, Workload, parse_trace, poisson_workload, simulate_server, trace_workload
from splittui.sim.search import SearchOptions, Target, capacity_search, parse_target
from splittui.sim.server import ClientClass, ServerModel, client_class, server_model
from splittui.sim.strategies import ClassSpec, canonical_cuts, compare


def _fixed_class(pre_ms: float, *, output: int = 1, off_ms: float = 0.0, kv: float = 0.0) -> ClientClass:
    z = np.zeros(2)
    return ClientClass(name="c", weight=1.0, policy=(0,), seq_knots=np.array([1.0, 1e5]), pre_before_ms=z,
                       pre_after_ms=z, pre_server_ms=np.array([pre_ms, pre_ms]), step_off_ms=off_ms,
                       step_server_ms=0.0, kv_per_token=kv, server_weights=0.0, prompt=100, output=output)


def _fixed_server(step_ms: float, *, budget: float = math.inf, classes: int = 1) -> ServerModel:
    """One row whose batched step takes `step_ms` whatever the batch (weights-bound, nothing per request)."""
    one = np.array([1.0])
    zero = np.zeros(1)
    return ServerModel(device="fixed", ms_per_flop=0.0, ms_per_byte=1.0, f0=zero, f1=zero, weights=one * step_ms,
                       kv=zero, act=zero, over=zero, count=one, mask=np.ones((classes, 1)), resident_bytes=0.0,
                       budget_bytes=budget, table=((0.0, 0.0, step_ms, 0.0, 0.0, 0.0, 1.0, tuple(range(classes))),))


@pytest.fixture(scope="module")
def llama():
    p = load_any("llama-3.1-8b", client_device="jetson-orin", server_device="a100-80gb", include_seq=[512, 575])
    sc = Scenario(deadline_ms=1e9, up_mbps=20, down_mbps=100, seq_len=512, gen_tokens=64)
    return p, sc


def test_md1_waiting_time() -> None:
    """Prefill-only requests of fixed server time D under Poisson arrivals: M/D/1, W = ρD / (2(1 − ρ))."""
    d, rho = 10.0, 0.6
    c = _fixed_class(d)
    run = simulate_server(poisson_workload(rho / d * 1e3, 40_000, [c], seed=3), [c], _fixed_server(1.0))
    wait = float(np.mean(run.ttft_ms - d))
    assert wait == pytest.approx(rho * d / (2 * (1 - rho)), rel=0.06)
    assert run.utilisation == pytest.approx(rho, rel=0.03)


def test_batch_one_is_the_sequential_queue(llama) -> None:
    """max_batch 1: each request holds the server from admission to its last token: a FIFO single server."""
    p, sc = llama
    c = client_class(p, sc, (0,) * p.n_layers, name="all")
    srv = server_model(p, sc, resolve_device("a100-80gb"), [c])
    wl = poisson_workload(0.3, 300, [c], seed=1)
    run = simulate_server(wl, [c], srv, SimOptions(max_batch=1))
    before, pre, after = c.prefill_parts(wl.prompt.astype(float))
    step = srv.step_ms([1.0], [sc.seq_len + (sc.gen_tokens - 1) / 2])
    service = pre + after + (wl.output - 1) * (c.step_off_ms + step)
    free, done = 0.0, []
    for a, s in zip(wl.arrival_ms + before, service):
        start = max(a, free)
        free = start + s
        done.append(free)
    np.testing.assert_allclose(run.e2e_ms, np.array(done) - wl.arrival_ms, rtol=1e-9)
    # alone, the server step at batch 1 is the profile's own decode time of the server layers (o_l absorbs the rest)
    assert step == pytest.approx(c.step_server_ms, rel=0.02)


def test_littles_law(llama) -> None:
    """Time-average requests in the server = arrival rate x mean time in the server (counted separately)."""
    p, sc = llama
    c = client_class(p, sc, (0,) * p.n_layers, name="all")
    srv = server_model(p, sc, resolve_device("a100-80gb"), [c])
    wl = poisson_workload(4.0, 3000, [c], seed=2)
    run = simulate_server(wl, [c], srv)
    sojourn = run.in_server_sojourn_ms
    span = float(np.nanmax(wl.arrival_ms + run.e2e_ms))   # the loop integrates from t = 0 to the last event
    assert run.in_server_mean == pytest.approx(np.nansum(sojourn) / span, rel=1e-6)
    assert run.mean_batch > 1.0


def test_conservation_with_drops() -> None:
    """Every arrival completes or is counted as dropped: a KV cache that can never fit, or a full queue."""
    big = _fixed_class(5.0, output=4, kv=10.0)        # 10 bytes x 103 tokens
    small = _fixed_class(5.0, output=4, kv=1.0)
    classes = [big, small]
    srv = _fixed_server(2.0, budget=500.0, classes=2)
    wl = poisson_workload(300.0, 4000, classes, seed=5)
    run = simulate_server(wl, classes, srv, SimOptions(max_queue=5))
    assert run.completed + run.dropped == run.arrivals == 4000
    assert np.isnan(run.e2e_ms[wl.cls == 0]).all()                  # never fits: dropped
    assert run.dropped > int((wl.cls == 0).sum())                   # and some by the full queue
    assert run.peak_mem_bytes <= 500.0 + 1e-9


def test_batching_grows_throughput(llama) -> None:
    """The batched step: weights read once, so 32 requests cost far less than 32 single steps."""
    p, sc = llama
    c = client_class(p, sc, (0,) * p.n_layers, name="all")
    srv = server_model(p, sc, resolve_device("a100-80gb"), [c])
    one = srv.step_ms([1.0], [512.0])
    many = srv.step_ms([32.0], [32 * 512.0])
    assert one < many < 4 * one


def test_search_monotone_in_targets(llama) -> None:
    p, sc = llama
    c = client_class(p, sc, (0,) * p.n_layers, name="all")
    srv = server_model(p, sc, resolve_device("a100-80gb"), [c])
    opt = SearchOptions(requests=400, rel_tol=0.05)
    rates = [capacity_search([c], srv, (Target("ttft", 90, 1000), Target("tpot", 99, ms)), opt).rate_per_s
             for ms in (40.0, 50.0, 80.0)]
    assert 0 < rates[0] <= rates[1] <= rates[2]
    cap = capacity_search([c], srv, (Target("tpot", 99, 50.0),), opt)
    assert cap.missed_rate_per_s <= cap.rate_per_s * (1 + opt.rel_tol) + 1e-12
    assert cap.binding == "p99 TPOT <= 50 ms"


def test_targets_parse_and_refuse() -> None:
    assert parse_target("p90:ttft:1000") == Target("ttft", 90.0, 1000.0)
    for bad in ("p90:ttft", "p90:speed:10", "p0:ttft:1", "p90:ttft:-1"):
        with pytest.raises(SplittuiError):
            parse_target(bad)


def test_trace_rows() -> None:
    rows = parse_trace("# arrival_s, prompt, output\n0.0, 100, 4\n0.5 200 8\n")
    c = _fixed_class(3.0, output=4)
    wl = trace_workload(rows, [c])
    assert isinstance(wl, Workload) and wl.prompt.tolist() == [100, 200] and wl.arrival_ms.tolist() == [0.0, 500.0]
    run = simulate_server(wl, [c], _fixed_server(1.0))
    assert run.completed == 2
    with pytest.raises(SplittuiError):
        parse_trace("1, 2\n")


def test_compare_strategies(llama) -> None:
    p, sc = llama
    res = compare([ClassSpec("orin", 1.0, p, sc)], resolve_device("a100-80gb"),
                  (Target("ttft", 90, 1500), Target("tpot", 99, 60)), SearchOptions(requests=300, rel_tol=0.1))
    assert set(res) == {"all-server", "greedy", "exact", "joint"}
    assert res["joint"].capacity.rate_per_s >= max(res["all-server"].capacity.rate_per_s,
                                                   res["exact"].capacity.rate_per_s)
    assert canonical_cuts(p)[:3] == [0, 1, 9]      # embed; 8 layers a block


# --- the command ------------------------------------------------------------------------------------

_CAP = ["capacity", "--model", "llama-3.1-8b", "--client-device", "jetson-orin", "--server-device", "a100-80gb",
        "--up-mbps", "20", "--down-mbps", "100", "--seq", "512", "--gen-tokens", "64", "--ttft-p90-ms", "1500",
        "--tpot-p99-ms", "60", "--requests", "200", "--tol", "0.2"]


def test_cli_json_out_and_table(tmp_path, capsys) -> None:
    out_file = tmp_path / "cap.json"
    rc, out, err = run_cli([*_CAP, "--strategies", "all-server,exact", "--json", "--out", out_file], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    assert doc == json.loads(out_file.read_text())
    assert doc["schema"] == "splittui.capacity/1" and set(doc["strategies"]) == {"all-server", "exact"}
    a = doc["strategies"]["all-server"]
    assert a["capacity_req_per_s"] > 0 and a["binding_target"].startswith("p") and a["saturated"]
    rc, out, err = run_cli([*_CAP, "--strategies", "all-server", "--clients", "jetson-orin:0.5,phone-soc@10/50:0.5"],
                           capsys)
    assert rc == 0, err
    assert "(a) all on server" in out and "jetson-orin 0.5 + phone-soc@10/50 0.5" in " ".join(out.split())


@pytest.mark.parametrize("extra, words", [
    (["--strategies", "best"], "--strategies"),
    (["--clients", "jetson-orin:x"], "--clients"),
    (["--target", "p90:speed:1"], "target"),
    (["--gen-tokens", "1"], "TPOT target needs"),
])
def test_cli_errors_are_one_line(extra, words, capsys) -> None:
    rc, out, err = run_cli([*_CAP, *extra], capsys)
    assert rc == 2 and out == "" and words in err and len(err.strip().splitlines()) == 1


def test_core_modules_import_no_ui_or_torch() -> None:
    code = ("import sys, json\nimport splittui.sim.capacity, splittui.sim.search, splittui.sim.strategies\n"
            "print(json.dumps([m for m in ('torch', 'textual', 'rich') if m in sys.modules]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_chunked_prefill_trades_ttft_for_tpot(llama) -> None:
    """Chunked prefill stops stalling decode: lower p99 TPOT, higher TTFT, than prefill-first."""
    p, sc = llama
    c = client_class(p, sc, (0,) * p.n_layers, name="all")
    srv = server_model(p, sc, resolve_device("a100-80gb"), [c])
    wl = poisson_workload(6.0, 1500, [c], seed=4)
    first = simulate_server(wl, [c], srv, SimOptions(prefill="prefill-first"))
    chunked = simulate_server(wl, [c], srv, SimOptions(prefill="chunked", chunk_tokens=64))
    assert chunked.percentile("tpot", 99) < first.percentile("tpot", 99)
    assert chunked.percentile("ttft", 90) > first.percentile("ttft", 90)
    assert chunked.completed == first.completed == 1500

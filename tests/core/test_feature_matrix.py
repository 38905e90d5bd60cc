"""Every knob reaches every command (issue 24, item 2; STYLE habit 17): a table of knobs crossed with a table
of commands. Each cell runs the command as a user would (`--json` on stdout), and checks that nothing
raises, that the document records the knob (scenario, or the setup that builds the profile), and that
every answer that claims to be feasible meets the TTFT/TPOT limits. A new knob joins with one `KNOBS`
entry; a command that cannot take a knob says why in `NOT_APPLICABLE` (the matrix test fails on a cell
that is neither run nor explained).

The app's views are crossed with the same knobs in tests/tui/test_feature_matrix_app.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest
from cli_runner import run_cli

GPT = ("--model", "gpt2-like")
LLAMA = ("--model", "llama-3.2-1b")
BERT = ("--model", "bert-base")


@dataclass(frozen=True)
class Knob:
    """One knob: the model it needs, its flags, and what the documents must then record."""

    model: tuple[str, ...]
    argv: tuple[str, ...]
    seq: int = 512
    scenario: dict = field(default_factory=dict)   # recorded in a policy document's 'scenario'
    setup: dict = field(default_factory=dict)      # recorded in its 'setup' (what builds the profile)
    sweep: dict = field(default_factory=dict)      # recorded in a sweep's/simulation's workload config


KNOBS: dict[str, Knob] = {
    "output tokens": Knob(GPT, ("--gen-tokens", "16"), scenario={"gen_tokens": 16}, sweep={"gen_tokens": 16}),
    "TTFT limit": Knob(GPT, ("--gen-tokens", "16", "--ttft-ms", "1200"), scenario={"ttft_ms": 1200.0},
                       sweep={"ttft_ms": 1200.0}),
    "TPOT limit": Knob(GPT, ("--gen-tokens", "16", "--tpot-ms", "60"), scenario={"tpot_ms": 60.0},
                       sweep={"tpot_ms": 60.0}),
    "devices": Knob(LLAMA, ("--client-device", "jetson-orin", "--server-device", "a100-80gb"),
                    setup={"client_device": "jetson-orin", "server_device": "a100-80gb"}),
    "device alias": Knob(LLAMA, ("--client-device", "orin", "--server-device", "a100"),
                         setup={"client_device": "jetson-orin", "server_device": "a100-80gb"}),
    "dtype": Knob(LLAMA, ("--dtype", "int4"), setup={"dtype": "int4"}),
    "attention variant": Knob(BERT, ("--attention", "lowrank:256"), seq=1024, setup={"attention": "lowrank:256"}),
    "asymmetric link": Knob(GPT, ("--up-mbps", "20", "--down-mbps", "100"),
                            scenario={"up_mbps": 20.0, "down_mbps": 100.0}),
    "returns": Knob(GPT, ("--gen-tokens", "8", "--returns", "topk:5"), scenario={"returns": "topk:5"},
                    sweep={"returns": "topk:5"}),
    "pins": Knob(LLAMA, ("--pin-client", "embed,head"), scenario={"pin_client": ...}),
    "memory limit": Knob(LLAMA, ("--client-mem-gb", "8"), scenario={"client_mem_gb": 8.0}),
    "radio and client energy": Knob(LLAMA, ("--gen-tokens", "8", "--radio", "lte", "--client-energy-j", "100"),
                                    scenario={"radio": "lte", "client_energy_j": 100.0}),
}

DEADLINE = ("--deadline-ms", "60000")
GRID = ("--bandwidths", "20", "--max-halvings", "3")

# (command, knob) cells a command cannot take, with the reason (the matrix fails on an unexplained gap)
NOT_APPLICABLE = {
    ("sweep", "asymmetric link"): "the sweep's axis is the bandwidth (--bandwidths), up = down by design",
    ("simulate", "asymmetric link"): "the simulation's cells come from the sweep's bandwidth grid",
    ("sweep", "pins"): "the sweep's vectorised per-deadline solvers do not take pins yet (issue 25)",
    ("simulate", "pins"): "its cells come from the sweep, which does not take pins yet (issue 25)",
    ("sweep", "memory limit"): "the sweep's vectorised solvers do not take memory limits yet (issue 25)",
    ("simulate", "memory limit"): "its cells come from the sweep (memory: --server-mem-gb of the queue)",
    ("sweep", "radio and client energy"): "the sweep's vectorised solvers minimise server load only (issue 29)",
    ("simulate", "radio and client energy"): "its cells come from the sweep, which takes no energy limit yet",
}


def _json(argv, capsys):
    rc, out, err = run_cli(argv, capsys)
    assert "Traceback" not in err, err
    assert rc in (0, 1), (rc, err)
    return json.loads(out)


def _docs(payload) -> list[dict]:
    return payload if isinstance(payload, list) else [payload]


def _check_policy_docs(docs: list[dict], knob: Knob, *, seeks_bandwidth: bool = False) -> None:
    assert docs
    for d in docs:
        if d.get("policy") is None:
            continue
        if seeks_bandwidth and "down_mbps" in knob.scenario:   # the answer is the uplink; the ratio is kept
            sc, want = d["scenario"], knob.scenario
            assert sc["down_mbps"] / sc["up_mbps"] == pytest.approx(want["down_mbps"] / want["up_mbps"])
        for k, v in knob.scenario.items():
            if seeks_bandwidth and k in ("up_mbps", "down_mbps"):
                continue   # a goal seek's limits are in its 'goal' (a TTFT limit above the
            got = d["scenario"].get(k, (d.get("goal") or {}).get(k))   # least deadline is implied by it)
            assert (got is not None) if v is ... else got == v, (k, d["scenario"])
        for k, v in knob.setup.items():
            assert d["setup"][k] == v, (k, d["setup"])
        if d["feasible"]:
            assert d["violations"] == []
            sc = d["scenario"]
            if sc.get("ttft_ms") is not None:
                assert d["ttft_ms"] <= sc["ttft_ms"] * (1 + 1e-9)
            if sc.get("tpot_ms") is not None and d.get("tpot_ms") is not None:
                assert d["tpot_ms"] <= sc["tpot_ms"] * (1 + 1e-9)
            if sc.get("client_energy_j") is not None:
                assert d["energy"]["client_j"] <= sc["client_energy_j"] * (1 + 1e-9)


def _base(knob: Knob) -> list[str]:
    return [*knob.model, "--seq", str(knob.seq), *knob.argv]


def run_solve(knob: Knob, capsys, tmp_path) -> None:
    _check_policy_docs(_docs(_json(["solve", *_base(knob), *DEADLINE, "--json"], capsys)), knob)


def run_goal_deadline(knob: Knob, capsys, tmp_path) -> None:
    docs = _docs(_json(["solve", *_base(knob), "--max-share", "95%", "--json"], capsys))
    _check_policy_docs(docs, knob)
    assert all(d.get("least_deadline_ms") is None or d["feasible"] for d in docs)


def run_goal_bandwidth(knob: Knob, capsys, tmp_path) -> None:
    docs = _docs(_json(["solve", *_base(knob), *DEADLINE, "--max-share", "95%", "--least", "bandwidth",
                        "--solver", "exact", "--json"], capsys))
    _check_policy_docs(docs, knob, seeks_bandwidth=True)


def run_frontier(knob: Knob, capsys, tmp_path) -> None:
    doc = _json(["frontier", *_base(knob), "--json"], capsys)
    for k, v in knob.scenario.items():
        assert (k in doc["scenario"]) if v is ... else doc["scenario"][k] == v
    for k, v in knob.setup.items():
        assert doc["setup"][k] == v
    assert doc["points"] and all(p["meets_limits"] for p in doc["points"])


def run_evaluate(knob: Knob, capsys, tmp_path) -> None:
    path = tmp_path / "p.json"
    rc, _, err = run_cli(["solve", *_base(knob), *DEADLINE, "--solver", "exact", "--out", path], capsys)
    assert rc == 0, err
    made = json.loads(path.read_text())
    again = _docs(_json(["evaluate", "--policy", path, "--json"], capsys))[0]
    _check_policy_docs([again], knob)
    for k in ("latency_ms", "ttft_ms", "tpot_ms", "server_share"):
        assert again[k] == pytest.approx(made[k], rel=1e-12), k


def _check_workload(config: dict, setups: list, knob: Knob) -> None:
    for k, v in knob.sweep.items():
        assert config[k] == v, (k, config)
    for k, v in knob.setup.items():
        assert setups and setups[0][k] == v, (k, setups)


def _grid_argv(knob: Knob) -> list[str]:
    return [*knob.model, "--seqs", str(knob.seq), *knob.argv, *GRID]


def run_sweep(knob: Knob, capsys, tmp_path) -> None:
    doc = _json(["sweep", *_grid_argv(knob), "--json"], capsys)
    _check_workload(doc["config"], [m["setup"] for m in doc["models"]], knob)


def run_simulate(knob: Knob, capsys, tmp_path) -> None:
    doc = _json(["simulate", *_grid_argv(knob), "--requests", "500", "--json"], capsys)
    _check_workload(doc["workload"], doc["setups"], knob)


COMMANDS = {"solve": run_solve, "goal seek (deadline)": run_goal_deadline, "goal seek (bandwidth)": run_goal_bandwidth,
            "frontier": run_frontier, "evaluate": run_evaluate, "sweep": run_sweep, "simulate": run_simulate}


@pytest.mark.parametrize("knob", list(KNOBS))
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_command_honours_every_knob(command, knob, capsys, tmp_path):
    if (command, knob) in NOT_APPLICABLE:
        pytest.skip(NOT_APPLICABLE[command, knob])
    COMMANDS[command](KNOBS[knob], capsys, tmp_path)


def test_the_matrix_has_no_unexplained_gap():
    """Every explained gap names a real command and knob (a renamed one cannot hide a cell)."""
    for command, knob in NOT_APPLICABLE:
        assert command in COMMANDS and knob in KNOBS
    assert len(COMMANDS) * len(KNOBS) - len(NOT_APPLICABLE) >= 60

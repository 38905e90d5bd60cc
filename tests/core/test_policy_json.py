"""`splittui.policy/1` documents (issue 2, item 7): `solve --json`, `--out` (atomic, no clobber), `evaluate`."""

from __future__ import annotations

import json
import math
import os
from datetime import datetime, timedelta, timezone

import pytest
from cli_runner import run_cli as cli

import splittui
from splittui.costs import costs_for
from splittui.errors import SplittuiError
from splittui.profiles import canonical_sha256, profile_to_doc, write_json_atomic
from splittui.solvers import SOLVERS
from splittui.solvers.exact import remaining_latency

SCENARIO_FIELDS = {"deadline_ms", "up_mbps", "down_mbps", "delay_ms", "seq_len", "unit_ms", "start", "end",
                   "objective", "rounding"}
DOC_FIELDS = {"schema", "model", "profile_sha256", "scenario", "solver", "feasible", "policy", "placement",
              "latency_ms", "breakdown_ms", "server_load", "total_load", "server_share", "switches", "created"}
BASE = ["--model", "gpt2-like", "--deadline-ms", "1500", "--up-mbps", "100"]


@pytest.fixture(scope="module")
def gpt2():
    return splittui.load_profile("gpt2-like")


def _check_doc(doc, prof, sc):
    assert DOC_FIELDS <= set(doc), DOC_FIELDS - set(doc)
    assert doc["schema"] == "splittui.policy/2" and doc["model"] == prof.model
    assert doc["profile_sha256"] == canonical_sha256(profile_to_doc(prof)) == prof.sha256
    assert set(doc["scenario"]) >= SCENARIO_FIELDS
    assert doc["scenario"] == {**sc.to_dict(), "returns": "logits"}   # what the end returns, resolved
    assert doc["setup"]["model"] == prof.origin and doc["setup"]["attention"] == "full"
    created = datetime.fromisoformat(doc["created"])
    assert created.utcoffset() == timedelta(0)
    assert abs(datetime.now(timezone.utc) - created) < timedelta(minutes=5)
    want = splittui.solve(prof, sc, doc["solver"])
    assert doc["feasible"] == want.feasible
    if not doc["feasible"]:
        assert doc["policy"] is None and doc["placement"] is None and doc["latency_ms"] is None
        return
    assert doc["policy"] == list(want.policy) and set(doc["policy"]) <= {0, 1}
    assert [p["name"] for p in doc["placement"]] == [layer.name for layer in prof.layers]
    assert [p["kind"] for p in doc["placement"]] == [layer.kind for layer in prof.layers]
    assert [p["side"] for p in doc["placement"]] == ["client" if x else "server" for x in doc["policy"]]
    ev = splittui.evaluate(prof, sc, doc["policy"])
    assert doc["latency_ms"] == pytest.approx(ev.latency_ms, rel=1e-12)
    bd = doc["breakdown_ms"]
    assert set(bd) == {"client_compute", "server_compute", "upload", "download"}
    assert sum(bd.values()) == pytest.approx(doc["latency_ms"], rel=1e-12)
    assert doc["latency_ms"] <= sc.deadline_ms * (1 + 1e-9)
    assert doc["server_load"] == pytest.approx(ev.server_load, rel=1e-12)
    assert doc["total_load"] == pytest.approx(ev.total_load, rel=1e-12)
    assert doc["server_share"] == pytest.approx(doc["server_load"] / doc["total_load"], rel=1e-12)
    assert doc["switches"] == ev.switches


def test_solve_json_single_solver_has_every_field(gpt2, capsys):
    rc, out, err = cli(["solve", *BASE, "--solver", "dp", "--json"], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    _check_doc(doc, gpt2, splittui.Scenario(deadline_ms=1500, up_mbps=100, seq_len=512))


def test_policy_documents_carry_each_sides_memory(capsys):
    """issue 25: a policy file records each side's memory (weights, KV, activation, reserve, total vs limit)."""
    from splittui.memory import memory_breakdown

    rc, out, err = cli(["solve", "--model", "llama-3.2-1b", "--client-device", "jetson-orin", "--seq", "512",
                        "--gen-tokens", "32", "--deadline-ms", "20000", "--client-mem-gb", "6", "--solver", "exact",
                        "--json"], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    mem = doc["memory"]
    profile = splittui.llm.load_any("llama-3.2-1b", client_device="jetson-orin", include_seq=[512, 543])
    want = memory_breakdown(profile, splittui.Scenario(deadline_ms=20000, seq_len=512, gen_tokens=32,
                                                       client_mem_gb=6.0), doc["policy"])
    for side in want:
        got = mem[side.side]
        assert got["total_bytes"] == pytest.approx(side.total) and got["fits"] is True
        assert got["weights_bytes"] + got["kv_bytes"] + got["act_bytes"] + got["reserve_bytes"] == \
            pytest.approx(got["total_bytes"])
    assert mem["client"]["limit_bytes"] == 6e9 and mem["server"]["limit_bytes"] is None


def test_solve_json_all_solvers(gpt2, capsys):
    rc, out, err = cli(["solve", *BASE, "--seq", "1024", "--end", "server", "--objective", "mem_bytes",
                        "--json"], capsys)
    assert rc == 0, err
    docs = json.loads(out)
    assert [d["solver"] for d in docs] == [s for s in SOLVERS if s != "brute-force"]
    sc = splittui.Scenario(deadline_ms=1500, up_mbps=100, seq_len=1024, end="server", objective="mem_bytes")
    for doc in docs:
        _check_doc(doc, gpt2, sc)


def test_solve_json_infeasible(gpt2, capsys):
    c = costs_for(gpt2, splittui.Scenario(deadline_ms=1))
    rem_client, _ = remaining_latency(c)  # backward pass: independent of the forward min_latency
    deadline = rem_client[0] / 2
    rc, out, err = cli(["solve", "--model", "gpt2-like", "--deadline-ms", deadline, "--solver", "exact", "--json"],
                       capsys)
    doc = json.loads(out)
    assert doc["feasible"] is False and doc["policy"] is None and doc["placement"] is None
    assert doc["min_latency_ms"] > deadline
    assert math.isclose(doc["min_latency_ms"], rem_client[0], rel_tol=1e-12)


def test_out_writes_atomically_and_refuses_to_overwrite(tmp_path, capsys):
    path = tmp_path / "pol.json"
    rc, out, err = cli(["solve", *BASE, "--solver", "dp", "--json", "--out", path], capsys)
    assert rc == 0 and "wrote 1 policy" in err
    first = path.read_bytes()
    assert json.loads(first)["policy"] == json.loads(out)["policy"]
    rc, out, err = cli(["solve", *BASE, "--deadline-ms", "900", "--solver", "dp", "--out", path], capsys)
    assert rc == 2 and "already exists" in err and "--force" in err and str(path) in err
    assert path.read_bytes() == first
    rc, out, err = cli(["solve", *BASE, "--deadline-ms", "900", "--solver", "dp", "--out", path, "--force"],
                       capsys)
    assert rc == 0
    assert json.loads(path.read_text())["scenario"]["deadline_ms"] == 900
    assert sorted(os.listdir(tmp_path)) == ["pol.json"]  # no temp file left behind


def test_write_json_atomic_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "keep.json"
    write_json_atomic(path, {"v": 1})
    before = path.read_bytes()

    class Boom(Exception):
        pass

    def fail_at_rename(src, dst):  # the temp file is fully written; the rename never happens
        raise Boom

    import splittui.profiles as profiles_mod

    monkeypatch.setattr(profiles_mod.os, "replace", fail_at_rename)
    with pytest.raises(Boom):
        write_json_atomic(path, {"v": 2}, force=True)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["keep.json"]
    with pytest.raises(SplittuiError, match="already exists"):
        write_json_atomic(path, {"v": 3})
    with pytest.raises(SplittuiError, match="does not exist"):
        write_json_atomic(tmp_path / "nope" / "x.json", {"v": 3})


@pytest.mark.parametrize("flags,changes", [
    ([], {}),
    (["--up-mbps", "20"], {"up_mbps": 20.0, "down_mbps": 100.0}),   # the stored downlink stays (issue 24)
    (["--up-mbps", "20", "--down-mbps", "500"], {"up_mbps": 20.0, "down_mbps": 500.0}),
    (["--seq", "1024", "--delay-ms", "30"], {"seq_len": 1024, "delay_ms": 30.0}),
    (["--deadline-ms", "200"], {"deadline_ms": 200.0}),
    (["--end", "server", "--objective", "server_ms"], {"end": "server", "objective": "server_ms"}),
])
def test_evaluate_rescores_under_changed_flags(flags, changes, gpt2, tmp_path, capsys):
    path = tmp_path / "p.json"
    rc, _, err = cli(["solve", *BASE, "--solver", "all", "--out", path, "--json"], capsys)
    assert rc == 0, err
    index, stored = [(i, d) for i, d in enumerate(json.loads(path.read_text())) if d["feasible"]][0]
    rc, out, err = cli(["evaluate", "--policy", path, "--index", str(index), "--json", *flags], capsys)
    doc = json.loads(out)
    sc = splittui.Scenario(deadline_ms=1500, up_mbps=100, seq_len=512).replace(**changes)
    want = splittui.evaluate(gpt2, sc, stored["policy"])
    assert rc == (0 if want.feasible else 1)
    assert doc["scenario"] == {**sc.to_dict(), "returns": "logits"}
    assert doc["solver"] == stored["solver"] and doc["policy"] == stored["policy"]
    assert doc["feasible"] == want.feasible
    assert doc["latency_ms"] == pytest.approx(want.latency_ms, rel=1e-12)
    assert doc["server_load"] == pytest.approx(want.server_load, rel=1e-12)
    assert doc["breakdown_ms"]["upload"] == pytest.approx(want.breakdown.upload_ms, rel=1e-12)
    if not flags:
        assert doc["latency_ms"] == pytest.approx(stored["latency_ms"], rel=1e-12)


def test_load_policy_roundtrip(tmp_path, capsys):
    path = tmp_path / "one.json"
    cli(["solve", *BASE, "--solver", "greedy", "--out", path], capsys)
    doc = splittui.load_policy(path)
    assert doc["solver"] == "greedy" and set(doc["policy"]) <= {0, 1}

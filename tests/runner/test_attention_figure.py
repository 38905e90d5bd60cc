"""`splittui run --figure attention` (Figs. 6-7): how the dp deadlines are chosen from the planning
profile, the infeasible rows, the chart, the time estimate, the bad-input rules of issue 13, and one
tiny end-to-end run whose dp rows really run (with the threads each process reports)."""

from __future__ import annotations

import hashlib
import json
import re
from types import SimpleNamespace

import pytest

from splittui.cli import build_parser, main
from splittui.profiles import load_profile, profile_from_doc, profile_to_doc
from splittui.runner.attention_figure import (
    MIN_GAP,
    STARTUP_S,
    Infeasible,
    _plan_seq,
    attention_chart,
    attention_markdown,
    dp_deadline_ms,
    estimate_s,
)
from splittui.runner.experiment import Case
from splittui.runner.planning import all_client_ms, profile_path, scenario_for
from splittui.runner.predict import planned_overhead_ms, predict

FIGURE = ["run", "--figure", "attention", "--model", "bert-base", "--tiny", "--link", "paced", "--repeats", "1",
          "--profile-repeats", "1"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SPLITTUI_CACHE_DIR", str(tmp_path))
    return tmp_path


def _args(*extra: str):
    return build_parser().parse_args(["run", "--figure", "attention", *extra])


def _scaled(profile, client: float, server: float, *, server_from_client: bool = False):
    """``profile`` with every client time × ``client`` and server time × ``server`` (or, with
    ``server_from_client``, every server time = its client time × ``server``)."""
    doc = profile_to_doc(profile)
    for layer in doc["layers"]:
        base = layer["client_ms"] if server_from_client else layer["server_ms"]
        layer["server_ms"] = [v * server for v in base]
        layer["client_ms"] = [v * client for v in layer["client_ms"]]
    return profile_from_doc(doc, source="scaled for a test", origin=profile.origin)


# --- deadlines from the planning profile ------------------------------------------------------------

def test_way_deadlines_sit_between_the_least_latency_and_all_client():
    assert dp_deadline_ms("1/3", 100.0, 400.0) == (pytest.approx(200.0), "")
    assert dp_deadline_ms("2/3", 100.0, 400.0) == (pytest.approx(300.0), "")
    assert dp_deadline_ms("0.5x", 100.0, 400.0) == (pytest.approx(200.0), "")
    assert dp_deadline_ms("250", 100.0, 400.0) == (pytest.approx(250.0), "")


@pytest.mark.parametrize("token, least, ac, words", [
    ("1/3", 500.0, 469.0, "infeasible: least latency 500 ms ≥ all-client 469 ms"),
    ("2/3", 469.0, 469.0, "infeasible: least latency 469 ms ≥ all-client 469 ms"),
    ("1/3", 0.995 * 800.0, 800.0, f"within {MIN_GAP:.0%} of all-client 800 ms"),
    ("0.6x", 700.0, 1000.0, "infeasible: deadline 600 ms < least latency 700 ms"),
])
def test_no_room_below_all_client_is_an_infeasible_row_with_both_numbers(token, least, ac, words):
    ms, why = dp_deadline_ms(token, least, ac)
    assert ms is None and words in why


def test_fast_server_gives_two_feasible_dp_rows_below_all_client():
    profile = load_profile("bert-base")   # shipped: the server is a GPU roofline, far faster than the client
    args = _args()
    for seq in (128, 512):
        items, span = _plan_seq(args, profile, seq, ["1/3", "2/3"])
        assert [i.label for i in items] == ["all-client", "attention-server", "dp 1/3", "dp 2/3"]
        assert all(isinstance(i, Case) for i in items)
        lo, ac = span.least_ms, span.all_client_ms
        for case, f in zip(items[2:], (1 / 3, 2 / 3), strict=True):
            assert case.scenario.deadline_ms == pytest.approx(lo + f * (ac - lo))
            assert 0 in case.policy   # below all-client: something runs on the server
            planned = predict(profile, case.scenario, case.policy).latency_ms
            assert planned <= case.scenario.deadline_ms + 1e-6 < ac


def test_slow_server_shows_the_dp_rows_as_infeasible_not_omitted():
    profile = _scaled(load_profile("bert-base"), client=1.0, server=1000.0)
    items, span = _plan_seq(_args(), profile, 256, ["1/3", "2/3"])
    dp = [i for i in items if i.label.startswith("dp")]
    assert len(dp) == 2 and all(isinstance(i, Infeasible) for i in dp)
    assert span.least_ms == pytest.approx(span.all_client_ms)
    assert all(f"≥ all-client {span.all_client_ms:.0f} ms" in i.reason for i in dp)
    table = attention_markdown(items[2:])
    assert table.count("infeasible: least latency") == 2


def test_estimate_adds_warm_up_requests_stage_passes_and_the_reference():
    profile = load_profile("bert-base")
    args = _args()
    sc = scenario_for(args, profile, 256)
    case = Case("all-client", profile, sc, tuple([1] * profile.n_layers))
    ac = all_client_ms(profile, sc) / 1e3
    # all-client: reference forward + (1 warm-up + R) requests + R client passes
    assert estimate_s([case, case], 3) == pytest.approx(STARTUP_S + ac + 4 * ac + 3 * ac)


# --- the chart ---------------------------------------------------------------------------------------

def _row(model, label, seq, pred, meas):
    case = SimpleNamespace(label=label, planning=SimpleNamespace(model=model),
                           scenario=SimpleNamespace(seq_len=seq))
    return SimpleNamespace(case=case, planned=SimpleNamespace(latency_ms=pred), measured={"total_ms": meas})


def test_chart_has_a_panel_per_variant_and_a_letter_per_dp_deadline():
    import plotext as plt

    rows = [_row(m, label, s, s * k, s * k * 1.1) for m in ("bert-base", "bert-base@sparse-32")
            for k, label in ((1.0, "all-client"), (6.0, "attention-server"), (0.7, "dp 1/3"), (0.85, "dp 2/3"))
            for s in (128, 256, 512)]
    chart = plt.uncolorize(attention_chart(rows, width=120, height=20, infeasible=[object()]))
    assert "bert-base@sparse-32" in chart and "sequence length" in chart
    assert "A/a all-client, E/e attention-server, D/d dp 1/3, P/p dp 2/3" in chart
    assert "1 infeasible dp row(s) not drawn" in chart
    assert {"D", "d", "P", "p"} <= set(chart)


# --- bad input: one line, exit 2, before anything is profiled or started ---------------------------

@pytest.mark.parametrize("argv, words", [
    (FIGURE + ["--seqs", "16", "--variants", "lowrank:0"], "between 1"),
    (FIGURE + ["--seqs", "16", "--variants", "full,sparse:64"], "block of 64 tokens is larger than --seqs 16"),
    (FIGURE + ["--seqs", "16", "--variants", "dense:4"], "unknown attention variant"),
    (["run", "--figure", "attention", "--model", "cmt-s", "--variants", "full,lowrank:8"], "no attention core"),
    (FIGURE + ["--seqs", "16", "--variants", "full", "--deadlines", "1/3,3/2"], "between 0 and 1"),
    (FIGURE + ["--seqs", "16", "--variants", "full", "--deadlines", "soon"], "expected a/b"),
    (["run", "--model", "runner-toy", "--seq", "16", "--attention", "lowrank:8"], "no attention core"),
    (["run", "--model", "bert-base", "--tiny", "--seq", "16", "--attention", "sparse:32"], "larger than --seq 16"),
    (["run", "--fidelity", "--models", "bert-base", "--tiny", "--seqs", "16", "--attention", "sparse:32"],
     "larger than --seqs 16"),
])
def test_bad_input_is_one_line_before_anything_starts(cache, capsys, argv, words):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert words in err and len(err.strip().splitlines()) == 1
    assert "planning profile" not in err and not list(cache.iterdir())


# --- one tiny run: the dp rows run ---------------------------------------------------------------------

def test_dp_rows_run_between_least_and_all_client_from_a_profile_measured_before(cache, capsys):
    """The planning profile (made by `splittui profile`, as the figure would) is doctored so that its
    server is 20x faster than its client (a busy 2-core machine measures a 2-thread server slower):
    then the dp deadlines exist, and the dp rows must run."""
    seqs = [16, 32]
    path = profile_path("bert-base", seqs, 2, tiny=True)
    assert main(["profile", "--model", "bert-base", "--tiny", "--seq", "16,32", "--server", "cpu:2", "--threads",
                 "1", "--repeats", "1", "--out", str(path), "--force"]) == 0
    path.write_text(json.dumps(profile_to_doc(_scaled(load_profile(str(path)), 10.0, 0.5, server_from_client=True))))
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    capsys.readouterr()

    code = main(FIGURE + ["--seqs", "16,32", "--variants", "full", "--up-mbps", "200", "--delay-ms", "1",
                          "--server-threads", "2", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err[-800:]
    out = json.loads(captured.out)
    assert "measuring it in a separate process" not in captured.err   # the cached profile, not the run's timings
    assert out["planning_profile"]["sha256"] == sha == hashlib.sha256(path.read_bytes()).hexdigest()
    assert out["threads"] == [{"model": "bert-base", "requested": 2, "client": 1, "server": 2}]
    assert out["infeasible"] == [] and "1/3 and 2/3 of the way" in out["dp_deadlines"]["rule"]

    plan, args = load_profile(str(path)), _args("--up-mbps", "200", "--delay-ms", "1")
    spans = {s["seq_len"]: s for s in out["dp_deadlines"]["by_length"]}
    by = {(r["seq_len"], r["solver"]): r for r in out["rows"]}
    assert set(by) == {(s, label) for s in seqs for label in ("all-client", "attention-server", "dp 1/3", "dp 2/3")}
    for (seq, label), row in by.items():
        assert row["output_matches_unsplit"] and row["measured_ms"] > 0
        sc = scenario_for(args, plan, seq)
        want = predict(plan, sc, row["policy"], planned_overhead_ms(plan)).latency_ms
        assert row["predicted_ms"] == pytest.approx(want, abs=0.01)   # from the planning profile alone
        if label.startswith("dp"):
            lo, ac = spans[seq]["least_ms"], spans[seq]["all_client_ms"]
            f = 1 / 3 if label == "dp 1/3" else 2 / 3
            assert row["deadline_ms"] == pytest.approx(lo + f * (ac - lo), abs=0.06)
            assert lo < row["deadline_ms"] < ac and 0 in row["policy"]


def test_markdown_table_shows_every_dp_row_measured_or_infeasible(cache, capsys):
    code = main(FIGURE + ["--seqs", "16", "--variants", "sparse:8", "--up-mbps", "200", "--delay-ms", "1",
                          "--server-threads", "1", "--markdown"])
    out = capsys.readouterr().out
    assert code == 0
    table = [line for line in out.splitlines() if line.startswith("| bert-base@sparse-8 |")]
    assert [re.split(r"\s*\|\s*", line)[3] for line in table] == ["all-client", "attention-server", "dp 1/3",
                                                                   "dp 2/3"]
    for line in table[2:]:   # a dp row either ran (a policy, output checked) or says why not
        assert line.rstrip().endswith("| yes |") or "infeasible: least latency" in line
    assert "dp deadlines: 1/3, 2/3" in out and "threads reported by the processes" in out
    assert "no more threads than the client" in out   # --server-threads 1: said, not hidden
    assert "estimated run time from the planning profiles" in out and "A/a all-client" in out


def test_fidelity_deadlines_lie_between_the_least_latency_and_all_client_by_default():
    """--fidelity's default deadlines (1/3, 2/3 of the way) give every solver a mixed policy wherever a
    split can help; a server no faster than the client is a stated skip, not a silent gap."""
    from splittui.runner.experiments import FIDELITY_SOLVERS, _fidelity_cases

    args = build_parser().parse_args(["run", "--fidelity"])
    profile = load_profile("bert-base")
    skipped: list[str] = []
    cases = _fidelity_cases(args, profile, 512, skipped)
    assert not skipped and len(cases) == 2 * len(FIDELITY_SOLVERS)
    ac = all_client_ms(profile, scenario_for(args, profile, 512))
    deadlines = sorted({c.scenario.deadline_ms for c in cases})
    assert len(deadlines) == 2 and deadlines[-1] < ac
    assert all(0 in c.policy and 1 in c.policy for c in cases if c.label in ("dp", "exact"))

    slow = _scaled(profile, client=1.0, server=1000.0)
    skipped = []
    assert _fidelity_cases(args, slow, 512, skipped) == []
    assert len(skipped) == 2 and all("infeasible: least latency" in s for s in skipped)

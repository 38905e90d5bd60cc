"""Goal seek, the frontier command and multi-policy evaluate, end to end through the CLI."""

from __future__ import annotations

import json

from cli_runner import run_cli as cli

import splittui
from splittui.solvers import solve


def _solve_json(argv, capsys):
    rc, out, err = cli(argv + ["--json"], capsys)
    assert rc == 0, err
    return json.loads(out)


def test_max_share_gives_each_solver_its_least_deadline(capsys):
    docs = _solve_json(["solve", "--model", "bert-base", "--seq", "256", "--up-mbps", "50", "--max-share", "0.5"],
                       capsys)
    by = {d["solver"]: d for d in docs}
    assert set(by) >= {"dp", "exact", "greedy", "single-split", "no-split", "all-client"}
    assert all("least_deadline_ms" in d for d in docs)
    profile = splittui.load_profile("bert-base")
    least = by["exact"]["least_deadline_ms"]
    sc = splittui.Scenario(seq_len=256, up_mbps=50.0, deadline_ms=least)
    at = solve(profile, sc, "exact")
    assert at.feasible and at.server_share <= 0.5 + 1e-9
    below = solve(profile, sc.replace(deadline_ms=least * (1 - 1e-7)), "exact")
    assert not below.feasible or below.server_share > 0.5
    # the DP can only need more time than exact, never less
    assert by["dp"]["least_deadline_ms"] >= least - 1e-9
    assert by["no-split"]["least_deadline_ms"] is None   # no-split keeps 100 % on the server


def test_least_bandwidth_is_least(capsys):
    docs = _solve_json(["solve", "--model", "bert-base", "--seq", "256", "--deadline-ms", "400", "--max-share", "50%",
                        "--least", "bandwidth", "--solver", "exact"], capsys)
    (doc,) = docs if isinstance(docs, list) else [docs]
    bw = doc["least_up_mbps"]
    assert bw is not None and doc["server_share"] <= 0.5 + 1e-9
    profile = splittui.load_profile("bert-base")
    slower = solve(profile, splittui.Scenario(seq_len=256, deadline_ms=400, up_mbps=bw * 0.999), "exact")
    assert not slower.feasible or slower.server_share > 0.5


def test_bad_share_is_one_line(capsys):
    for bad in ("150", "101%", "-0.1", "half"):   # 1.5 is 1.5 % now, as in the app: a number above 1 is a percentage
        rc, out, err = cli(["solve", "--model", "gpt2-like", "--max-share", bad], capsys)
        assert rc == 2 and len(err.strip().splitlines()) == 1 and "--max-share" in err, bad


def test_frontier_json_is_a_staircase(capsys):
    rc, out, err = cli(["frontier", "--model", "bert-base", "--seq", "128", "--json"], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    pts = doc["points"]
    assert pts and doc["schema"] == "splittui.frontier/1"
    assert all(a["deadline_ms"] < b["deadline_ms"] for a, b in zip(pts, pts[1:]))
    assert all(a["server_load"] >= b["server_load"] for a, b in zip(pts, pts[1:]))
    assert all(p["dp_deadline_ms"] is None or p["dp_deadline_ms"] >= p["deadline_ms"] - 1e-9 for p in pts)
    rc, out, err = cli(["frontier", "--model", "bert-base", "--seq", "128"], capsys)
    assert rc == 0 and "Pareto-optimal" in out


def _write_all(tmp_path, capsys) -> str:
    path = tmp_path / "all.json"
    rc, _, err = cli(["solve", "--model", "gpt2-like", "--out", str(path)], capsys)
    assert rc == 0, err
    return str(path)


def test_evaluate_scores_every_policy_of_a_file(tmp_path, capsys):
    path = _write_all(tmp_path, capsys)
    rc, out, err = cli(["evaluate", "--policy", path, "--json"], capsys)
    docs = json.loads(out)
    stored = [d for d in json.loads(open(path).read()) if d["policy"] is not None]
    assert len(docs) == len(stored) and [d["solver"] for d in docs] == [d["solver"] for d in stored]
    rc, out, err = cli(["evaluate", "--policy", path, "--solver", "exact", "--json"], capsys)
    assert json.loads(out)["solver"] == "exact"
    rc, out, err = cli(["evaluate", "--policy", path, "--index", "99"], capsys)
    assert rc == 2 and "--index 99" in err


def test_evaluate_shows_a_late_policy_and_its_miss(tmp_path, capsys):
    path = _write_all(tmp_path, capsys)
    rc, out, err = cli(["evaluate", "--policy", path, "--solver", "exact", "--up-mbps", "5", "--down-mbps", "5"],
                       capsys)
    assert rc == 1
    assert "late" in out


def test_evaluate_names_the_bad_scenario_field(tmp_path, capsys):
    path = _write_all(tmp_path, capsys)
    docs = json.loads(open(path).read())
    docs[0]["scenario"]["up_mbps"] = -3
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(docs))
    rc, out, err = cli(["evaluate", "--policy", str(bad)], capsys)
    assert rc == 2 and str(bad) in err and "scenario.up_mbps" in err
    assert len(err.strip().splitlines()) == 1

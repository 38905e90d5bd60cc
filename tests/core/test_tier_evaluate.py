"""`evaluate` on a policy over tiers (issue 28 item 3): re-scored on its stored topology, never as a
two-sided policy on the default devices (it was: the A100 took every non-phone layer)."""

from __future__ import annotations

import json

import pytest
from cli_runner import run_cli

TIERS = ("--model", "llama-3.2-1b", "--tier", "phone=phone-soc", "--tier", "edge=jetson-orin", "--tier",
         "cloud=a100-80gb", "--hop", "50/100/5", "--hop", "200/500/20", "--seq", "512", "--gen-tokens", "64",
         "--deadline-ms", "20000")


def _docs(out: str) -> list[dict]:
    doc = json.loads(out)
    return doc if isinstance(doc, list) else [doc]


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiers") / "plan.json"
    from splittui.cli import main

    assert main(["solve", *TIERS, "--solver", "all", "--out", str(path)]) in (0, 1)
    return path


def test_evaluate_gives_the_solve_numbers_back(plan, capsys):
    solved = _docs(plan.read_text())
    rc, out, err = run_cli(["evaluate", "--policy", plan, "--json"], capsys)
    assert rc in (0, 1) and "Traceback" not in err, err
    again = _docs(out)
    assert len(again) == len(solved) >= 3
    for a, b in zip(solved, again):
        assert b["tiers"]["policy"] == a["tiers"]["policy"] and b["solver"] == a["solver"]
        for key in ("latency_ms", "ttft_ms", "tpot_ms", "feasible"):
            assert b[key] == a[key], (a["solver"], key)
        assert b["tiers"]["shares"] == a["tiers"]["shares"] and b["tiers"]["hop_ms"] == a["tiers"]["hop_ms"]
        assert b["tiers"]["tiers"] == a["tiers"]["tiers"]


def test_hops_replace_the_stored_links_and_are_checked(plan, capsys):
    base = _docs(run_cli(["evaluate", "--policy", plan, "--solver", "exact", "--json"], capsys)[1])[0]
    rc, out, err = run_cli(["evaluate", "--policy", plan, "--solver", "exact", "--hop", "5/10/5", "--hop",
                            "200/500/20", "--json"], capsys)
    slow = _docs(out)[0]
    assert slow["tiers"]["hops"][0] == {"up_mbps": 5.0, "down_mbps": 10.0, "delay_ms": 5.0}
    if base["tiers"]["hop_ms"][0] != [0.0, 0.0]:   # the placement crosses the first link: it takes longer
        assert slow["latency_ms"] > base["latency_ms"]
    for argv, words in ((["--hop", "5/10/5"], "has 2 links, 1 given"), (["--up-mbps", "5"], "give its links as --hop"),
                        (["--client-device", "laptop-cpu"], "the stored tiers'")):
        rc, out, err = run_cli(["evaluate", "--policy", plan, *argv], capsys)
        assert rc == 2 and words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_two_sided_file_refuses_hops(tmp_path, capsys):
    path = tmp_path / "p.json"
    assert run_cli(["solve", "--model", "gpt2-like", "--solver", "exact", "--out", path], capsys)[0] in (0, 1)
    rc, out, err = run_cli(["evaluate", "--policy", path, "--hop", "5/10/5"], capsys)
    assert rc == 2 and "holds no policy over tiers" in err


def test_frontier_over_tiers_holds_the_exact_answer_at_the_deadline(plan, capsys):
    """issue 28 item 3: `frontier --tier ...` lists the exact front; the row in force at --deadline-ms is
    `solve --tier ... --solver exact`'s policy (the core front is checked against brute force in test_tiers)."""
    exact = next(d for d in _docs(plan.read_text()) if d["solver"] == "exact")
    rc, out, err = run_cli(["frontier", *TIERS, "--json"], capsys)
    assert rc == 0 and "Traceback" not in err, err
    doc = json.loads(out)
    assert doc["schema"] == "splittui.frontier/1" and [t["name"] for t in doc["topology"]["tiers"]] == \
        ["phone", "edge", "cloud"]
    pts = doc["points"]
    assert len(pts) >= 2 and all(a["deadline_ms"] < b["deadline_ms"] and a["objective"] > b["objective"]
                                 for a, b in zip(pts, pts[1:]))
    row = pts[doc["at_deadline"]]
    assert row["tiers"] == exact["tiers"]["policy"] and row["deadline_ms"] == pytest.approx(exact["latency_ms"])
    assert row["shares"] == pytest.approx(exact["tiers"]["shares"])
    rc, out, err = run_cli(["frontier", *TIERS], capsys)
    assert rc == 0 and "Pareto-optimal policies" in out and "→" in out
    rc, out, err = run_cli(["frontier", *TIERS, "--ttft-ms", "5000"], capsys)   # limits: test_tier_front_limits
    assert rc == 0 and "TTFT ≤ 5000 ms" in out and "Traceback" not in err

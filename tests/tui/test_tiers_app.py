"""The app over a chain of tiers (issue 28, item 4): opened with `--tier`/`--hop` (or a policy file's
`tiers` section), a hop's knob moved with real keys re-solves, and every number it shows equals what
`splittui.solvers.tiers` answers for that scenario, computed here on profiles built as `splittui solve
--tier` builds them; every tab and screen key answers (a line saying "two sides only" where it has no
meaning over tiers); export writes a policy that `splittui evaluate --policy` re-scores to the same numbers;
two tiers open the two-sided app itself.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest
from tui_helpers import settle, shown

from splittui.cli import build_parser, main
from splittui.commands.app_args import app_start
from splittui.commands.common import scenario_from_args
from splittui.commands.tiers_args import tier_profiles, topology_from_args
from splittui.solvers.tiers import solve_tiers
from splittui.tui.app import make_app
from splittui.tui.tier_actions import TWO_SIDED_ACTIONS
from splittui.tui.tier_state import TIER_NOTE, TIER_SOLVERS
from splittui.tui.widgets.numbers import NumbersPanel
from splittui.tui.widgets.strip import PlacementStrip

CHAIN = ["--model", "llama-3.2-1b", "--tier", "phone=phone-soc", "--tier", "edge=jetson-orin", "--tier",
         "cloud=a100-80gb", "--hop", "50/100/5", "--hop", "200/500/20", "--seq", "512", "--deadline-ms", "500"]


def _open(argv=CHAIN, **kw):
    profile, sc, doc = app_start(build_parser().parse_args(argv))
    return make_app(profile, scenario=sc, policy=doc, show_timings=False, **kw)


def _expected(topo, argv=CHAIN):
    """The tier solvers' answers for `topo`, on profiles built by `solve --tier`'s own code."""
    args = build_parser().parse_args(["solve", *argv])
    profiles = tier_profiles(args, topology_from_args(args)[0])
    return solve_tiers(profiles, scenario_from_args(args, profiles[-1]), topo, TIER_SOLVERS)


def _same(got, want) -> None:
    for name in TIER_SOLVERS:
        g, w = got[name], want[name]
        assert (g.tiers, g.feasible, g.shares, g.latency_ms) == (w.tiers, w.feasible, w.shares, w.latency_ms), name


async def test_hop_knob_moves_the_tiers_shares(monkeypatch, tmp_path):
    monkeypatch.setenv("SPLITTUI_DATA_DIR", str(tmp_path))
    app = _open()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        st = app.state
        assert st.error is None and st.tiers is not None and app.topology.k == 3
        _same(st.tiers.results, _expected(app.topology))
        before = {n: r.shares for n, r in st.tiers.results.items()}
        table = shown(app.query_one(NumbersPanel), width=120)
        for name in ("phone", "edge", "cloud", "dp", "exact", "no-split", "all-client", "two sides only"):
            assert name in table
        for line, (name, res) in zip(table.splitlines()[1:], st.tiers.rows(), strict=False):   # shares in tier order
            assert line.split()[0] == name
            if res.shares is not None:
                assert re.findall(r"(\d+\.\d) %", line) == [f"{100 * s:.1f}" for s in res.shares], name
        app.query_one("#hop0-up").focus()
        await pilot.press("shift+right")   # the phone→edge uplink: a large step up
        await settle(pilot)
        hop = app.topology.hops[0]
        assert hop.up_mbps > 50 and (hop.down_mbps, hop.delay_ms) == (100, 5)
        assert app.state.tiers.topology == app.topology
        _same(app.state.tiers.results, _expected(app.topology))
        assert {n: r.shares for n, r in app.state.tiers.results.items()} != before
        strip = app.query_one(PlacementStrip)
        n = app.profile.n_layers
        for name, res in app.state.tiers.results.items():   # each row: the topology's letter of each layer's tier
            if res.tiers is None:
                continue
            row = strip._build_row(name, res, 0, n, 1).plain[strip._label_width():]
            want = "".join(app.topology.letters[t] for t in res.tiers)
            assert len(row) == n and all(g == w or g in "↑↓↕▼" for g, w in zip(row, want, strict=True)), name


async def test_hop_delay_and_down_knobs_reach_the_topology(monkeypatch, tmp_path):
    monkeypatch.setenv("SPLITTUI_DATA_DIR", str(tmp_path))
    app = _open()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.query_one("#hop1-delay").focus()
        await pilot.press("end")
        await pilot.press("up", "home")    # hop 2's down link to its least
        await settle(pilot)
        hop = app.topology.hops[1]
        assert hop.delay_ms == 200 and hop.down_mbps == 1 and hop.up_mbps == 200
        _same(app.state.tiers.results, _expected(app.topology))


async def test_every_tab_and_screen_key_answers_over_tiers(monkeypatch, tmp_path):
    monkeypatch.setenv("SPLITTUI_DATA_DIR", str(tmp_path))
    app = _open()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for key, tab in zip("23451", ("frontier", "flops", "bandwidth", "timeline", "placement"), strict=True):
            await pilot.press(key)
            await settle(pilot)
            if tab != "placement":
                caption = app.query_one(f"#chart-{tab} .chart-caption")
                assert TIER_NOTE in str(caption.render())
        keys = {"goal": "g", "frontier_cursor": "f", "save_slot": "s", "compare": "c", "export_all": "E",
                "toggle_pin": "P", "memory": "m", "load_policy": "o", "toggle_link": "l", "experiments": "x",
                "capacity": "k", "energy": "j", "live_profile": "p"}
        assert set(keys) == set(TWO_SIDED_ACTIONS)
        footer = {k.action for k in app.screen.query("FooterKey")}   # the footer offers none of them
        assert footer and not footer & set(TWO_SIDED_ACTIONS) and "next_solver" in footer
        for action, key in keys.items():
            app.query_one("#deadline").focus()
            app.clear_notifications()
            await pilot.press(key)
            await pilot.pause()
            assert len(app.screen_stack) == 1, action
            assert any("two sides only" in n.message for n in app._notifications), action
        await pilot.press("v")
        await settle(pilot)
        assert app.selected in TIER_SOLVERS
        await pilot.press("question_mark")
        await pilot.pause()
        assert len(app.screen_stack) == 2
        await pilot.press("escape")
        await pilot.press("t")
        await settle(pilot)
    assert app._exception is None


async def test_export_rescored_by_evaluate_and_reopened(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SPLITTUI_DATA_DIR", str(tmp_path))
    app = _open()
    path = tmp_path / "tiers.json"
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.query_one("#hop0-up").focus()
        await pilot.press("shift+right")
        await settle(pilot)
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("#path").value = str(path)
        await pilot.press("enter")
        await pilot.pause()
        chosen = app.selected
        mine = app.state.tiers.results[chosen]
        topo = app.topology
    doc = json.loads(path.read_text())
    assert doc["tiers"]["policy"] == [t + 1 for t in mine.tiers]
    assert doc["tiers"]["hops"][0]["up_mbps"] == topo.hops[0].up_mbps
    capsys.readouterr()
    assert main(["evaluate", "--policy", str(path), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["tiers"]["shares"] == pytest.approx(list(mine.shares), rel=1e-12)
    assert again["latency_ms"] == pytest.approx(mine.latency_ms, rel=1e-12)
    assert again["feasible"] == mine.feasible

    reopened = _open(["--policy", str(path)])   # the tiers section restores the chain
    async with reopened.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert reopened.topology == topo
        rows = dict(reopened.state.tiers.rows())
        loaded = rows[f"file:{chosen}"]
        assert (loaded.tiers, loaded.shares, loaded.latency_ms) == (mine.tiers, mine.shares, mine.latency_ms)
        _same(reopened.state.tiers.results, {n: r for n, r in _expected(topo).items()})


async def test_two_tiers_open_the_two_sided_app(monkeypatch, tmp_path):
    monkeypatch.setenv("SPLITTUI_DATA_DIR", str(tmp_path))
    app = _open(["--model", "llama-3.2-1b", "--tier", "phone=phone-soc", "--tier", "cloud=a100-80gb",
                 "--hop", "20/80/7", "--seq", "512"])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.topology is None and app.state.tiers is None
        sc = app.state.scenario
        assert (sc.up_mbps, sc.down_mbps, sc.delay_ms) == (20, 80, 7)
        src = app.state.profile.source
        assert (src["client_device"], src["server_device"]) == ("phone-soc", "a100-80gb")
        assert set(app.state.results) >= {"dp", "exact", "greedy"}


def test_tier_state_reuses_the_costs_of_one_scenario():
    """One scenario, one costs object: a request that moves neither scenario nor topology reuses it."""
    from splittui.tui.profile_choice import choice_for
    from splittui.tui.tier_state import compute_tiers, topology_of

    profile, sc, doc = app_start(build_parser().parse_args(CHAIN))
    topo = topology_of(doc["tiers"])
    loaded = {profile.origin or profile.model: profile}
    choice = choice_for(profile, profile.origin or profile.model)
    first = compute_tiers(choice, loaded, sc, topo)[2]
    again = compute_tiers(choice, loaded, sc, topo, first)[2]
    assert again.phases is first.phases
    moved = compute_tiers(choice, loaded, sc, replace(topo, hops=(topo.hops[1], topo.hops[1])), first)[2]
    assert moved.phases is not first.phases


async def test_typed_hop_value_and_model_switch(monkeypatch, tmp_path):
    """Enter on a hop knob types its value (Mbit/s, as the two-sided upload); the model picker rebuilds every
    tier's profile for the new model on the same devices."""
    monkeypatch.setenv("SPLITTUI_DATA_DIR", str(tmp_path))
    app = _open()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.query_one("#hop1-up").focus()
        await pilot.press("enter")
        await pilot.pause()
        app.screen.query_one("Input").value = "1G"
        await pilot.press("enter")
        await settle(pilot)
        assert app.topology.hops[1].up_mbps == 1000
        _same(app.state.tiers.results, _expected(app.topology))
        app.query_one("#model").focus()
        await pilot.press("right", "enter")
        await settle(pilot)
        st = app.state
        assert st.error is None and st.profile.model != "llama-3.2-1b"
        devices = [(p.source.get("client_device"), p.source.get("server_device")) for p in st.tiers.profiles]
        assert devices == [("phone-soc", "jetson-orin"), ("phone-soc", "jetson-orin"), ("phone-soc", "a100-80gb")]
        assert all(p.model == st.profile.model for p in st.tiers.profiles)


async def test_infeasible_chain_says_so(monkeypatch, tmp_path):
    """The deadline at its least value: no tier placement fits; the banner says so with the least latency."""
    from splittui.tui.widgets.banner import InfeasibleBanner

    monkeypatch.setenv("SPLITTUI_DATA_DIR", str(tmp_path))
    app = _open()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        banner = app.query_one(InfeasibleBanner)
        assert not banner.has_class("-shown")
        await pilot.press("home")   # the deadline knob has focus at start
        await settle(pilot)
        ex = app.state.tiers.results["exact"]
        assert not ex.feasible and banner.has_class("-shown")
        assert "no tier placement meets the deadline" in shown(banner, width=200)
        assert f"{ex.min_latency_ms:,.1f}" in shown(banner, width=200).replace("\n", "")


TOML = """
weights = [0, 1, 3]
[[tier]]
name = "phone"
device = "phone-soc"
[[tier]]
name = "edge"
device = "jetson-orin"
[[tier]]
name = "cloud"
device = "a100-80gb"
[[hop]]
up_mbps = 50
down_mbps = 100
delay_ms = 5
[[hop]]
up_mbps = 200
down_mbps = 500
delay_ms = 20
[pins]
cloud = "0"
"""


async def test_topology_file_opens_the_chain_with_its_pins_and_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("SPLITTUI_DATA_DIR", str(tmp_path))
    path = tmp_path / "chain.toml"
    path.write_text(TOML)
    argv = ["--model", "llama-3.2-1b", "--topology", str(path), "--seq", "512", "--deadline-ms", "2000"]
    app = _open(argv)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        topo = app.topology
        assert topo.k == 3 and topo.pins == ((0, 2),) and topo.weight_vector == (0.0, 1.0, 3.0)
        _same(app.state.tiers.results, _expected(topo, argv))
        for name, res in app.state.tiers.results.items():
            assert res.tiers is None or res.tiers[0] == 2, name   # the pin holds in every row


def test_serve_forwards_a_topology_file_and_refuses_tier_flags(tmp_path, monkeypatch):
    import shlex

    from splittui.commands.serve import app_command
    from splittui.errors import SplittuiError

    monkeypatch.chdir(tmp_path)
    argv = shlex.split(app_command(build_parser().parse_args(["serve", "--model", "gpt2-like", "--topology",
                                                              "chain.toml"])))
    assert argv[-2:] == ["--topology", str(tmp_path / "chain.toml")]
    with pytest.raises(SplittuiError, match="--topology"):
        app_start(build_parser().parse_args(["serve", *CHAIN]))


def test_hop_flags_beside_a_tier_policy_replace_its_links(tmp_path, capsys):
    path = tmp_path / "tiers.json"
    assert main(["solve", *CHAIN, "--solver", "exact", "--out", str(path)]) == 0
    app = _open(["--policy", str(path), "--hop", "10/20/1", "--hop", "30/40/2"])
    assert [(h.up_mbps, h.down_mbps, h.delay_ms) for h in app.topology.hops] == [(10, 20, 1), (30, 40, 2)]
    assert app.loaded is not None and app.loaded.label == "file:exact"
    with pytest.raises(Exception, match="2 links, 1 given"):
        _open(["--policy", str(path), "--hop", "10/20/1"])

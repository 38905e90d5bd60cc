"""Every knob reaches every view of the app (issue 24, item 2; STYLE habit 17): the app is opened on each
knob's complete scenario, then every view is visited as a user would, with real keys: the five tabs, the
infeasible banner's fixes, goal seek on the deadline and on the uplink, export and load back, compare,
and the experiments screen. Each view must raise nothing and answer the question on screen: the
scenario it shows is the knob's, every answer that claims to meet the limits does, every banner fix
applied is feasible, an exported file records the knob and loads back without a question.

A new knob joins with one `KNOBS` entry (the CLI's matrix is tests/core/test_feature_matrix.py).
"""

from __future__ import annotations

import json

import pytest
from tui_helpers import open_policy_file, press_busy, settle, shown, workers_done

import splittui
from splittui.attention import parse_attention
from splittui.generation import phase_costs, request_times
from splittui.llm import load_any
from splittui.profiles import load_variant
from splittui.solvers import solve
from splittui.solvers.fixes import feasible
from splittui.solvers.goal import scenario_at
from splittui.tui.app import make_app


def _gpt2():
    return splittui.load_profile("gpt2-like")


def _llama(**kw):
    return load_any("llama-3.2-1b", **kw)


# knob -> (profile factory, scenario, what the app's state must then hold: (attribute path, value))
KNOBS = {
    "output tokens": (_gpt2, dict(gen_tokens=16, deadline_ms=20_000), [("scenario.gen_tokens", 16)]),
    "TTFT limit": (_gpt2, dict(gen_tokens=16, ttft_ms=1200, deadline_ms=20_000), [("scenario.ttft_ms", 1200)]),
    "TPOT limit": (_gpt2, dict(gen_tokens=16, tpot_ms=60, deadline_ms=20_000), [("scenario.tpot_ms", 60)]),
    "devices": (lambda: _llama(client_device="jetson-orin", server_device="a100-80gb"), dict(seq_len=512),
                [("profile.source.client_device", "jetson-orin"), ("profile.source.server_device", "a100-80gb")]),
    "dtype": (lambda: _llama(dtype="int4"), dict(seq_len=512), [("profile.extra.dtype", "int4")]),
    "runtime": (lambda: _llama(client_device="jetson-orin", server_device="a100-80gb", runtime="mlc"),
                dict(seq_len=512), [("profile.source.runtime", "mlc"), ("state.choice.runtime", "mlc")]),
    "attention variant": (lambda: load_variant("bert-base", parse_attention("lowrank:256")), dict(seq_len=1024),
                          [("profile.extra.attention", "lowrank:256")]),
    "asymmetric link": (_gpt2, dict(up_mbps=20, down_mbps=100), [("scenario.up_mbps", 20),
                                                                ("scenario.down_mbps", 100)]),
    "returns": (_gpt2, dict(gen_tokens=8, returns="topk:5", deadline_ms=20_000), [("scenario.returns", "topk:5")]),
    "radio": (lambda: _llama(client_device="phone-soc", server_device="a100-80gb"),
              dict(seq_len=512, gen_tokens=8, radio="lte", deadline_ms=20_000), [("scenario.radio", "lte")]),
    "pins": (_gpt2, dict(pin_client=(0, 193, 194)), [("scenario.pin_client", (0, 193, 194))]),
    "memory limits": (_gpt2, dict(client_mem_gb=8.0), [("scenario.client_mem_gb", 8.0)]),
}
VIEWS = ("placement", "frontier", "flops", "bandwidth", "timeline", "banner fixes", "goal (deadline)",
         "goal (uplink)", "export and load", "compare", "experiments")


def _get(obj, path: str):
    for part in path.split("."):
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    return obj


def _meets_limits(profile, sc, policy) -> bool:
    t = request_times(phase_costs(profile, sc), policy)
    ok = sc.ttft_ms is None or t.ttft_ms <= sc.ttft_ms * (1 + 1e-9)
    return ok and (sc.tpot_ms is None or t.tpot_ms is None or t.tpot_ms <= sc.tpot_ms * (1 + 1e-9))


async def _tabs(pilot, seen: set) -> None:
    app = pilot.app
    for key, view in zip("23451", ("frontier", "flops", "bandwidth", "timeline", "placement"), strict=True):
        await pilot.press(key)
        await settle(pilot)
        await workers_done(app)
        assert app.state.error is None, (view, app.state.error)
        seen.add(view)
    sel = app.state.results[app.selected]
    if sel.feasible and sel.policy is not None:   # what the placement, timeline and export show meets the limits
        assert _meets_limits(app.profile, app.state.scenario, sel.policy)


async def _banner(pilot, seen: set) -> None:
    from splittui.tui.widgets.banner import InfeasibleBanner

    app = pilot.app
    banner = app.query_one(InfeasibleBanner)
    if banner.diagnosis is not None:
        for fix in banner.diagnosis.fixes:
            assert feasible(app.profile, fix.apply(app.state.scenario)), fix.text
    seen.add("banner fixes")


async def _goal(pilot, seen: set, uplink: bool) -> None:
    from splittui.tui.screens.goal import GoalScreen

    app = pilot.app
    keys = ("g", "tab", "right", "shift+tab", "9", "0", "enter") if uplink else ("g", "9", "0", "enter")
    await pilot.press(*keys)
    assert isinstance(app.screen, GoalScreen)
    await workers_done(app.screen)
    await pilot.pause()
    sc = app.state.scenario
    assert app.screen.answers, "the seek answered"
    for a in app.screen.answers:   # the value shown, applied, is feasible for that solver, limits included
        if a.deadline_ms is None:
            continue
        at = (scenario_at(sc, a.deadline_ms) if not uplink else
              sc.replace(up_mbps=a.deadline_ms, down_mbps=a.deadline_ms * sc.down_mbps / sc.up_mbps))
        res = solve(app.profile, at, a.solver)
        assert res.feasible and not res.violations, (a, res.violations)
        assert res.server_share <= 0.9 + 1e-9
    await pilot.press("escape")
    await settle(pilot)
    seen.add("goal (uplink)" if uplink else "goal (deadline)")


async def _export_and_load(pilot, seen: set, tmp_path, checks) -> None:
    app = pilot.app
    await pilot.press("e")
    await pilot.pause()
    path = tmp_path / "policy.json"
    app.screen.query_one("#path").value = str(path)
    await pilot.press("enter")
    await pilot.pause()
    doc = json.loads(path.read_text())
    assert doc["scenario"]["seq_len"] == app.state.scenario.seq_len
    for attr, value in checks:
        head, _, rest = attr.partition(".")
        if head == "scenario":
            assert doc["scenario"].get(rest) == (list(value) if isinstance(value, tuple) else value), attr
    await open_policy_file(pilot, path)      # made under these knobs: scored at once, no question
    await settle(pilot)
    assert app.loaded is not None and app.loaded.policy == tuple(doc["policy"])
    seen.add("export and load")


async def _compare(pilot, seen: set) -> None:
    from splittui.tui.screens.compare import CompareScreen

    app = pilot.app
    await pilot.press("s")
    await settle(pilot)
    await pilot.press("c")
    await pilot.pause()
    assert isinstance(app.screen, CompareScreen)
    await pilot.press("escape")
    await settle(pilot)
    seen.add("compare")


async def _experiments(pilot, seen: set) -> None:
    from splittui.tui.screens.experiments import ExperimentsScreen, ran

    app = pilot.app
    # the screen is composed (its status line says what runs): no wait for the sweep
    await press_busy(pilot, "x", lambda: isinstance(app.screen, ExperimentsScreen) and app.screen.is_mounted)
    status = shown(app.screen.query_one("#exp-status"), width=400)
    assert ran(app.state.scenario).split(" · ")[0] in status      # says what it runs, with the output tokens
    await press_busy(pilot, "escape", lambda: not isinstance(app.screen, ExperimentsScreen))   # cancels the sweep
    await settle(pilot)
    seen.add("experiments")


@pytest.mark.parametrize("knob", list(KNOBS))
async def test_every_view_honours_every_knob(knob, tmp_path, monkeypatch):
    monkeypatch.setenv("SPLITTUI_DATA_DIR", str(tmp_path / "data"))
    factory, knobs, checks = KNOBS[knob]
    profile = factory()
    sc = splittui.Scenario(**{"seq_len": profile.default_seq, **knobs})
    app = make_app(profile, scenario=sc, show_timings=False)
    seen: set[str] = set()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for attr, value in checks:
            assert _get(app, attr) == value, attr
        await _tabs(pilot, seen)
        await _banner(pilot, seen)
        await _goal(pilot, seen, uplink=False)
        await _goal(pilot, seen, uplink=True)
        await _export_and_load(pilot, seen, tmp_path, checks)
        await _compare(pilot, seen)
        await _experiments(pilot, seen)
        for attr, value in checks:   # nothing on the way changed the knob
            assert _get(app, attr) == value, attr
    assert app._exception is None
    assert seen == set(VIEWS)


# Over a chain of tiers (issue 28) every view above is visited with the same keys: the placement tab draws
# the tiers, each chart tab and each two-sided screen says in one line that it has no meaning there, and
# export writes a tier policy that `splittui evaluate` re-scores to the row's numbers. A new chain joins
# with one entry: (start flags, what the app's state must then hold).
TIER_CHAINS = {
    "three tiers": (["--model", "gpt2-like", "--tier", "phone=phone-soc", "--tier", "edge=jetson-orin", "--tier",
                     "cloud=a100-80gb", "--hop", "50/100/5", "--hop", "200/500/20"], [("topology.k", 3)]),
    "four tiers, output tokens": (["--model", "llama-3.2-1b", "--tier", "phone=phone-soc", "--tier",
                                   "home=laptop-cpu", "--tier", "edge=jetson-orin", "--tier", "cloud=a100-80gb",
                                   "--hop", "50/100/5", "--hop", "100/100/2", "--hop", "200/500/20", "--seq", "512",
                                   "--gen-tokens", "8", "--deadline-ms", "5000"],
                                  [("topology.k", 4), ("state.scenario.gen_tokens", 8)]),
}
TIER_VIEW_KEYS = {"banner fixes": None, "goal (deadline)": "g", "goal (uplink)": "g", "compare": "c",
                  "experiments": "x"}


@pytest.mark.parametrize("chain", list(TIER_CHAINS))
async def test_every_view_over_tiers(chain, tmp_path, monkeypatch, capsys):
    from splittui.cli import build_parser, main
    from splittui.commands.app_args import app_start
    from splittui.tui.tier_state import TIER_NOTE
    from splittui.tui.widgets.banner import InfeasibleBanner

    monkeypatch.setenv("SPLITTUI_DATA_DIR", str(tmp_path / "data"))
    argv, checks = TIER_CHAINS[chain]
    profile, sc, doc = app_start(build_parser().parse_args(argv))
    app = make_app(profile, scenario=sc, policy=doc, show_timings=False)
    seen: set[str] = set()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for attr, value in checks:
            assert _get(app, attr) == value, attr
        for key, view in zip("23451", ("frontier", "flops", "bandwidth", "timeline", "placement"), strict=True):
            await pilot.press(key)
            await settle(pilot)
            assert app.state.error is None and app.state.tiers is not None, view
            if view != "placement":
                assert TIER_NOTE in str(app.query_one(f"#chart-{view} .chart-caption").render()), view
            seen.add(view)
        for view, key in TIER_VIEW_KEYS.items():
            app.clear_notifications()
            if key is None:
                assert not app.query_one(InfeasibleBanner).has_class("-shown")
            else:
                await pilot.press(key)
                await pilot.pause()
                assert len(app.screen_stack) == 1 and any("two sides only" in n.message for n in app._notifications)
            seen.add(view)
        await pilot.press("e")
        await pilot.pause()
        path = tmp_path / "tiers.json"
        app.screen.query_one("#path").value = str(path)
        await pilot.press("enter")
        await pilot.pause()
        row = app.state.tiers.results[app.selected]
        seen.add("export and load")
    capsys.readouterr()
    assert main(["evaluate", "--policy", str(path), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["tiers"]["policy"] == [t + 1 for t in row.tiers]
    assert again["latency_ms"] == pytest.approx(row.latency_ms, rel=1e-12)
    assert again["tiers"]["shares"] == pytest.approx(list(row.shares), rel=1e-12)
    assert app._exception is None
    assert seen == set(VIEWS)

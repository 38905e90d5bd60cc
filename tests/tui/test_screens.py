"""The secondary screens (compare, export, load policy, help, profile) driven by real keys in a tiny
host app, and the pure slot helpers they rest on. The profiler is always a fake: no torch here."""

from __future__ import annotations

import io
import json
import math
import sys
import threading
import time
import types
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from textual.app import App
from textual.widgets import Button, DataTable, Label, ProgressBar

import splittui
from splittui.analytic import gpt2_like_doc
from splittui.errors import SplittuiError
from splittui.profiles import profile_from_doc
from splittui.report.palette import CLIENT_STYLE, MIXED_STYLE, SERVER_STYLE
from splittui.solvers import APP_SOLVERS as SOLVERS
from splittui.tui import slots as sl
from splittui.tui.screens.compare import CompareOutcome, CompareScreen, SlotStrips, compress_policy
from splittui.tui.screens.export import ConfirmScreen, ExportScreen
from splittui.tui.screens.help import HelpScreen
from splittui.tui.screens.load_policy import LoadPolicyScreen
from splittui.tui.screens.profile import TORCH_MISSING, ProfileScreen, parse_repeats, parse_seq_lens


# ---- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def profile():
    return splittui.load_profile("gpt2-like")


def _solve(profile, sc):
    return splittui.solve_all(profile, sc, solvers=SOLVERS)


@pytest.fixture(scope="module")
def three_slots(profile):
    """Slots 1 and 3 share a scenario; slot 2 has a tighter deadline (a different DP policy)."""
    out = ()
    for deadline, name in ((1500, "base"), (800, "tight"), (1500, "base again")):
        sc = splittui.Scenario(deadline_ms=deadline)
        out = sl.add_slot(out, profile, sc, _solve(profile, sc), name=name)
    return out


class Host(App):
    """Pushes one screen on mount and records what it dismisses with."""

    def __init__(self, make_screen) -> None:
        super().__init__()
        self._make_screen = make_screen
        self.results: list = []

    def on_mount(self) -> None:
        self.push_screen(self._make_screen(), self.results.append)


async def wait_for(pilot, condition, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "condition not reached in time"
        await pilot.pause(0.02)


async def clear_and_type(pilot, text: str) -> None:
    await pilot.press("end", "ctrl+u", *text)


def label_text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Label).render())


# ---- slots.py: pure helpers -------------------------------------------------------------------------
def test_numbers_names_rename_delete_are_pure(profile):
    sc = splittui.Scenario()
    res = _solve(profile, sc)
    assert sl.next_number(()) == 1
    one = sl.add_slot((), profile, sc, res)
    two = sl.add_slot(one, profile, sc, res, name="  my   slot ")
    assert [s.number for s in two] == [1, 2] and two[0].name == "slot 1" and two[1].name == "my slot"
    renamed = sl.rename(two, 1, "fast")
    assert renamed[0].name == "fast" and two[0].name == "slot 1"  # the old tuple is untouched
    gone = sl.delete(renamed, 1)
    assert [s.number for s in gone] == [2] and len(renamed) == 2
    assert sl.next_number(gone) == 3 and sl.next_number(sl.delete(gone, 2)) == 1
    with pytest.raises(SplittuiError):
        sl.rename(two, 7, "x")
    with pytest.raises(SplittuiError):
        sl.rename(two, 1, "   ")
    with pytest.raises(SplittuiError):
        sl.delete(two, 9)


def test_slot_documents_are_the_dp_policy_documents(three_slots, tmp_path):
    docs = sl.slot_documents(three_slots)
    assert [d["slot"] for d in docs] == [{"number": s.number, "name": s.name} for s in three_slots]
    for doc, slot in zip(docs, three_slots, strict=False):
        expected = splittui.policy_document(slot.profile, slot.scenario, slot.results["dp"])
        strip = lambda d: {k: v for k, v in d.items() if k not in ("slot", "created")}  # noqa: E731
        assert strip(doc) == strip(expected)
    path = tmp_path / "slots.json"
    splittui.profiles.write_json_atomic(path, docs)
    assert splittui.load_policy(path)["policy"] == list(three_slots[0].results["dp"].policy)


def test_differences_name_what_differs(three_slots, profile):
    same = (three_slots[0], three_slots[2])
    assert sl.differences(same) == set() and sl.differences(three_slots[:1]) == set()
    diffs = sl.differences(three_slots)
    assert "deadline_ms" in diffs and "seq_len" not in diffs and "model" not in diffs
    for solver in SOLVERS:
        shares = {round(s.results[solver].server_share, 12) for s in three_slots}
        assert (sl.result_key(solver, "server_share") in diffs) == (len(shares) > 1)
    other = profile_from_doc(gpt2_like_doc() | {"model": "other"}, origin="other")
    sc = three_slots[0].scenario
    mixed = sl.add_slot(three_slots[:1], other, sc, _solve(other, sc))
    assert "model" in sl.differences(mixed)


@settings(max_examples=25, deadline=None)
@given(d1=st.floats(300, 3000), d2=st.floats(300, 3000), seq=st.sampled_from([128, 512]))
def test_differences_match_the_results(profile, d1, d2, seq):
    slots = ()
    for d in (d1, d2):
        sc = splittui.Scenario(deadline_ms=d, seq_len=seq)
        slots = sl.add_slot(slots, profile, sc, {"dp": splittui.solve(profile, sc, solver="dp")})
    diffs = sl.differences(slots)
    # float noise is no difference
    assert ("deadline_ms" in diffs) == (not math.isclose(d1, d2, rel_tol=1e-9, abs_tol=1e-12))
    p1, p2 = (s.results["dp"].policy for s in slots)
    assert (sl.result_key("dp", "policy") in diffs) == (p1 != p2)


@settings(max_examples=60, deadline=None)
@given(policy=st.lists(st.integers(0, 1), min_size=1, max_size=300).map(tuple),
       width=st.integers(1, 120))
def test_compress_policy_keeps_sides(policy, width):
    cells = compress_policy(policy, width)
    assert len(cells) == min(len(policy), width)
    if width >= len(policy):
        assert [style == CLIENT_STYLE for _, style in cells] == [bool(x) for x in policy]
    styles = {style for _, style in cells}
    assert (SERVER_STYLE in styles or MIXED_STYLE in styles) == (0 in policy)
    assert (CLIENT_STYLE in styles or MIXED_STYLE in styles) == (1 in policy)


# ---- compare ----------------------------------------------------------------------------------------
async def test_compare_lists_slots_and_recalls_the_selected_one(three_slots):
    app = Host(lambda: CompareScreen(three_slots))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        table = screen.query_one(DataTable)
        assert len(table.columns) == 3 and table.row_count >= 14
        labels = [str(row.label) for row in table.rows.values()]
        assert any(lbl.startswith("≠") and "deadline" in lbl for lbl in labels)
        assert not any(lbl.startswith("≠") and "seq len" in lbl for lbl in labels)
        strips = screen.query_one(SlotStrips)
        assert strips.region.bottom <= 23 and strips.region.height >= 4  # fits above the footer
        text = strips.render().plain
        assert "#2 tight" in text and ("differs" in text) == (
            three_slots[0].results["dp"].policy != three_slots[1].results["dp"].policy)
        await pilot.press("right", "r")
        await pilot.pause()
    assert app.results == [CompareOutcome(three_slots, 2)]


async def test_compare_rename_and_delete_with_confirm(three_slots):
    app = Host(lambda: CompareScreen(three_slots))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")
        await clear_and_type(pilot, "fast")
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, CompareScreen) and screen.slots[0].name == "fast"
        assert "fast" in str(screen.query_one(DataTable).ordered_columns[0].label)
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert len(app.screen.slots) == 3
        await pilot.press("right", "d", "y")
        await pilot.pause()
        assert [s.number for s in app.screen.slots] == [1, 3]
        assert len(app.screen.query_one(DataTable).columns) == 2
        await pilot.press("escape")
        await pilot.pause()
    (outcome,) = app.results
    assert outcome.recall is None and [s.name for s in outcome.slots] == ["fast", "base again"]


async def test_compare_with_no_slots_does_not_crash():
    app = Host(lambda: CompareScreen(()))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("r", "n", "d", "escape")
        await pilot.pause()
    assert app.results == [CompareOutcome((), None)]


# ---- export -----------------------------------------------------------------------------------------
async def test_export_writes_one_doc_as_an_object(three_slots, tmp_path):
    docs = sl.slot_documents(three_slots[:1])
    path = tmp_path / "policy.json"
    app = Host(lambda: ExportScreen(str(path), docs))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        await pilot.pause()
    assert app.results == [path]
    assert json.loads(path.read_text()) == docs[0]
    assert splittui.load_policy(path)["policy"] == docs[0]["policy"]


async def test_export_never_overwrites_without_yes(three_slots, tmp_path):
    docs = sl.slot_documents(three_slots)
    path = tmp_path / "slots.json"
    path.write_text("keep me")
    app = Host(lambda: ExportScreen(str(path), docs))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert isinstance(app.screen, ExportScreen) and path.read_text() == "keep me"
        assert "not written" in label_text(app.screen, "#error")
        await pilot.press("enter", "y")
        await pilot.pause()
    assert app.results == [path]
    assert [d["slot"]["number"] for d in json.loads(path.read_text())] == [1, 2, 3]


async def test_export_shows_errors_inline_then_escape(three_slots, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    docs = sl.slot_documents(three_slots[:1])
    app = Host(lambda: ExportScreen(str(tmp_path / "missing" / "x.json"), docs))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        await pilot.pause()
        assert "does not exist" in label_text(app.screen, "#error")
        await clear_and_type(pilot, "d")
        await pilot.press("enter")
        await pilot.pause()
        assert "is a directory" in label_text(app.screen, "#error")
        await pilot.press("escape")
        await pilot.pause()
    assert app.results == [None] and [p.name for p in tmp_path.rglob("*")] == ["d"]


# ---- load policy ------------------------------------------------------------------------------------
async def test_load_policy_error_then_success(three_slots, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # short relative paths: typing them key by key stays quick
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    good = tmp_path / "good.json"
    doc = sl.slot_documents(three_slots[1:2])[0]
    good.write_text(json.dumps(doc))
    app = Host(lambda: LoadPolicyScreen())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*bad.name, "enter")
        await pilot.pause()
        assert isinstance(app.screen, LoadPolicyScreen)
        assert "not valid JSON" in label_text(app.screen, "#error")
        await clear_and_type(pilot, good.name)
        await pilot.press("enter")
        await pilot.pause()
    assert app.results[0]["policy"] == doc["policy"] and app.results[0]["slot"]["name"] == "tight"


# ---- help -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["escape", "q", "question_mark"])
async def test_help_lists_keys_and_closes(key):
    keys = [("?", "help"), ("s", "save slot"), ("c", "compare slots"), ("e", "export")]
    app = Host(lambda: HelpScreen(keys))
    async with app.run_test(size=(80, 24)) as pilot:
        console = Console(width=60, file=io.StringIO(), record=True, color_system=None)
        console.print(app.screen.query_one("#keys").content)
        text = console.export_text()
        assert all(k in text and d in text for k, d in keys)
        await pilot.press(key)
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
    assert app.results == [None]


# ---- profile (fake profiler) ------------------------------------------------------------------------
class ProfilingCancelled(Exception):
    pass


def fake_profiler(monkeypatch, profile_model) -> dict:
    """Install a stand-in `splittui.profiler` module; returns a dict recording the calls."""
    calls: dict = {}

    def recorded(model, seq_lens, **kw):
        calls.update(model=model, seq_lens=seq_lens, **kw)
        return profile_model(model, seq_lens, **kw)

    module = types.ModuleType("splittui.profiler")
    module.profile_model, module.ProfilingCancelled = recorded, ProfilingCancelled
    monkeypatch.setitem(sys.modules, "splittui.profiler", module)
    return calls


def quick_profile(model, seq_lens, *, repeats=5, progress=None, should_stop=None, **kw):
    for i in range(4):
        progress(i + 1, 4, f"layer {i}")
        time.sleep(0.01)
    return gpt2_like_doc(seq_lens=seq_lens)


async def press_start(pilot) -> None:
    """Tab to the Start button and press Enter (Enter in a field only moves on)."""
    pilot.app.screen.query_one("#start", Button).focus()
    await pilot.press("enter")


async def test_enter_in_a_field_never_starts_a_run_and_the_estimate_shows(monkeypatch):
    calls = fake_profiler(monkeypatch, quick_profile)
    app = Host(lambda: ProfileScreen("gpt2-like"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter", "enter")          # seq field, then repeats field
        await pilot.pause()
        assert calls == {} and "estimate" in label_text(app.screen, "#status")
        assert app.focused is app.screen.query_one("#start", Button)   # only now does Enter start


async def test_profile_runs_with_progress_and_returns_the_profile(monkeypatch):
    calls = fake_profiler(monkeypatch, quick_profile)
    app = Host(lambda: ProfileScreen("bert-base"))
    async with app.run_test(size=(80, 24)) as pilot:
        await clear_and_type(pilot, "256, 64,64")
        await press_start(pilot)
        await wait_for(pilot, lambda: app.screen.query_one("#done").has_class("-visible"))
        bar = app.screen.query_one(ProgressBar)
        assert bar.total == 4 and bar.progress == 4
        assert "profiled gpt2-like" in label_text(app.screen, "#status")
        await pilot.press("enter")  # focus is on "Use profile"
        await pilot.pause()
    assert calls["model"] == "bert-base" and calls["seq_lens"] == [64, 256] and calls["repeats"] == 5
    (prof,) = app.results
    assert prof.seq_lens == (64, 256) and prof.n_layers == len(gpt2_like_doc()["layers"])


async def test_profile_cancel_stops_the_worker(monkeypatch):
    stopped = threading.Event()

    def endless(model, seq_lens, *, progress=None, should_stop=None, **kw):
        i = 0
        while not should_stop():
            i += 1
            progress(i, 1000, f"step {i}")
            time.sleep(0.01)
        stopped.set()
        raise ProfilingCancelled()

    fake_profiler(monkeypatch, endless)
    app = Host(lambda: ProfileScreen("gpt2-like"))
    async with app.run_test(size=(80, 24)) as pilot:
        await press_start(pilot)
        await wait_for(pilot, lambda: (app.screen.query_one(ProgressBar).progress or 0) > 0)
        assert not app.screen.query_one("#cancel", Button).disabled
        await pilot.press("escape")  # while running: cancels, stays on the screen
        await wait_for(pilot, lambda: "cancelled" in label_text(app.screen, "#status"))
        assert stopped.is_set() and isinstance(app.screen, ProfileScreen)
        assert app.screen.query_one("#cancel", Button).disabled
        assert not app.screen.query_one("#start", Button).disabled
        await pilot.press("escape")  # idle: goes back
        await pilot.pause()
    assert app.results == [None]


async def test_profile_without_torch_says_so(monkeypatch):
    def no_torch(*args, **kw):
        raise ModuleNotFoundError("No module named 'torch'", name="torch")

    fake_profiler(monkeypatch, no_torch)
    app = Host(lambda: ProfileScreen("gpt2-like"))
    async with app.run_test(size=(80, 24)) as pilot:
        await press_start(pilot)
        await wait_for(pilot, lambda: TORCH_MISSING in label_text(app.screen, "#status"))
        assert app.screen.query_one("#status").has_class("-error")
        await clear_and_type(pilot, "abc")
        await pilot.press("enter")
        await pilot.pause()
        assert "integers" in label_text(app.screen, "#status")


async def test_profile_save_writes_a_loadable_profile(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    fake_profiler(monkeypatch, quick_profile)
    app = Host(lambda: ProfileScreen("gpt2-like"))
    async with app.run_test(size=(80, 24)) as pilot:
        await press_start(pilot)
        await wait_for(pilot, lambda: app.screen.query_one("#done").has_class("-visible"))
        await pilot.press("tab", "enter")  # "Save to file…"
        assert isinstance(app.screen, ExportScreen)
        await pilot.press("enter")
        await pilot.pause()
    (prof,) = app.results
    assert Path(prof.origin) == Path("gpt2-like.profile.json")
    assert splittui.load_profile(tmp_path / "gpt2-like.profile.json").seq_lens == (128, 256)


def test_parsers_reject_bad_input():
    assert parse_seq_lens("512 128,128") == [128, 512] and parse_repeats(" 3 ") == 3
    for bad in ("", "a,b", "0,128", "-5"):
        with pytest.raises(SplittuiError):
            parse_seq_lens(bad)
    for bad in ("0", "x", "1001"):
        with pytest.raises(SplittuiError):
            parse_repeats(bad)


async def test_compare_shows_an_infeasible_slot(profile, three_slots):
    sc = splittui.Scenario(deadline_ms=5)
    slots = sl.add_slot(three_slots[:1], profile, sc, _solve(profile, sc), name="impossible")
    assert not slots[1].results["dp"].feasible
    app = Host(lambda: CompareScreen(slots))
    async with app.run_test(size=(80, 24)) as pilot:
        text = app.screen.query_one(SlotStrips).render().plain
        assert "infeasible: least latency" in text and "differs" not in text
        table = app.screen.query_one(DataTable)
        cells = [str(c).strip() for c in table.get_column_at(1)]
        assert "infeasible" in cells and any(c.startswith("min ") for c in cells)
        await pilot.press("right", "r")
        await pilot.pause()
    assert app.results == [CompareOutcome(slots, 2)]

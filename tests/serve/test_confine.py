"""The files folder of a served app (issue 33, item 2): every path the app reads or writes is refused
when `..`, an absolute path, `~` or a symlink leads out of the folder, with the reason in the dialog;
a plain name lands inside it. The pure rule (`splittui.confine`) first, then every dialog that reads or
writes, driven by real keys in a tiny host app with the serve mode's environment set (no server here:
test_serve_guard.py attacks the real one).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import Input, Label, Static

import splittui
from splittui import confine
from splittui.errors import SplittuiError
from splittui.model import Scenario
from splittui.tui import slots as sl
from splittui.tui.policy_actions import _openable
from splittui.tui.screens.experiments import ExperimentsScreen, _new_file
from splittui.tui.screens.export import ExportScreen
from splittui.tui.screens.load_policy import LoadPolicyScreen

SECRET = '{"schema": "splittui.policy/1", "secret": true}'


@pytest.fixture
def jail(tmp_path, monkeypatch):
    """A served app's world: root/ is the files folder; outside/ is the rest of the machine, with a
    file beside it, a symlink in root to that file and one to the outside folder."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "policy.json").write_text(SECRET)
    (root / "link.json").symlink_to(outside / "policy.json")
    (root / "out").symlink_to(outside, target_is_directory=True)
    (root / "sub").mkdir()
    monkeypatch.setenv(confine.FILES_ENV, str(root))
    monkeypatch.setenv(confine.CODE_ENV, "0")
    monkeypatch.setenv(confine.LOCK_ENV, str(tmp_path / "profiling.lock"))
    return root.resolve(), outside.resolve()


def _attacks(outside: Path) -> list[str]:
    """Every way out that was tried: `..`, deeper `..`, absolute, `~`, symlinks to a file and to a folder."""
    return ["../outside/policy.json", "sub/../../outside/policy.json", "../../x.json", str(outside / "policy.json"),
            "/etc/passwd", "~/.bashrc", "~", "link.json", "out/policy.json", "out/new.json", "a\0b.json"]


# ---- the rule ----------------------------------------------------------------------------------------
def test_every_way_out_is_refused_with_the_reason(jail):
    root, outside = jail
    for text in _attacks(outside):
        for must_exist in (False, True):
            with pytest.raises(SplittuiError) as err:
                confine.confine(text, root, must_exist=must_exist)
            assert str(err.value).count("\n") == 0 and ("files folder" in str(err.value) or "path" in str(err.value))


def test_a_name_inside_is_taken_from_the_folder(jail):
    root, _ = jail
    assert confine.confine("x.json", root) == root / "x.json"
    assert confine.confine("sub/../x.json", root) == root / "x.json"      # `..` that stays inside is fine
    assert confine.confine(str(root / "sub" / "y.csv"), root) == root / "sub" / "y.csv"   # absolute, inside
    (root / "inner.json").symlink_to(root / "sub")
    assert confine.confine("inner.json", root) == root / "sub"             # a symlink that stays inside
    with pytest.raises(SplittuiError, match="no such file"):
        confine.confine("missing.json", root, must_exist=True)


def test_outside_serve_mode_nothing_changes(tmp_path, monkeypatch):
    monkeypatch.delenv(confine.FILES_ENV, raising=False)
    assert not confine.served() and confine.code_allowed()
    assert confine.app_path("~/x.json") == Path.home() / "x.json"
    assert confine.app_path("../x.json") == Path("../x.json")
    with confine.profiling_slot() as free:
        assert free


def test_served_code_needs_allow_code(jail, monkeypatch):
    assert confine.served() and not confine.code_allowed()
    monkeypatch.setenv(confine.CODE_ENV, "1")
    assert confine.code_allowed()


def test_one_profiling_run_at_a_time(jail):
    """Another app of the same server holds the lock: a second run is told so (flock is per open file,
    so two holders in one process stand for two app processes)."""
    with confine.profiling_slot() as first:
        assert first
        with confine.profiling_slot() as second:
            assert not second
    with confine.profiling_slot() as again:
        assert again


def test_a_policy_files_model_is_opened_only_inside(jail):
    root, outside = jail
    assert _openable("gpt2-like") == "gpt2-like" and _openable("llama-3.1-8b") == "llama-3.1-8b"
    assert _openable("x.json") == str(root / "x.json")
    for text in (str(outside / "policy.json"), "../outside/policy.json", "link.json"):
        with pytest.raises(SplittuiError, match="outside"):
            _openable(text)


# ---- the dialogs -------------------------------------------------------------------------------------
class Host(App):
    def __init__(self, make_screen) -> None:
        super().__init__()
        self._make_screen, self.results = make_screen, []

    def compose(self):
        yield Static("host")

    def on_mount(self) -> None:
        self.push_screen(self._make_screen(), self.results.append)


async def _submit(pilot, text: str) -> None:
    pilot.app.screen.query_one("#path", Input).value = text
    await pilot.press("enter")
    await pilot.pause()


def _error(app) -> str:
    return str(app.screen.query_one("#error", Label).render())


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


async def test_export_dialog_refuses_every_way_out_and_writes_inside(jail):
    """e, E and the live profile's "Save to file…" all write through this dialog."""
    root, outside = jail
    before_root, before_out = _files(root), _files(outside)
    app = Host(lambda: ExportScreen("policy.json", [{"schema": "splittui.policy/1", "policy": [1, 0]}]))
    async with app.run_test(size=(120, 30)) as pilot:
        for text in _attacks(outside):
            await _submit(pilot, text)
            assert isinstance(app.screen, ExportScreen), text          # not written, no "replace?" question
            assert "files folder" in _error(app) or "path" in _error(app), (text, _error(app))
        assert _files(root) == before_root and _files(outside) == before_out
        assert (outside / "policy.json").read_text() == SECRET          # the file behind the symlink is intact
        await _submit(pilot, "x.json")
    assert app.results == [root / "x.json"]
    assert json.loads((root / "x.json").read_text())["policy"] == [1, 0]


async def test_load_policy_dialog_refuses_every_way_out_and_reads_inside(jail, three_slots_doc):
    root, outside = jail
    (root / "mine.json").write_text(json.dumps(three_slots_doc))
    app = Host(lambda: LoadPolicyScreen())
    async with app.run_test(size=(120, 30)) as pilot:
        for text in _attacks(outside):
            await _submit(pilot, text)
            assert isinstance(app.screen, LoadPolicyScreen), text
            assert "secret" not in _error(app)
            assert "files folder" in _error(app) or "path" in _error(app), (text, _error(app))
        await _submit(pilot, "mine.json")
    assert [doc["policy"] for doc in app.results] == [list(three_slots_doc["policy"])]


@pytest.fixture
def three_slots_doc():
    profile = splittui.load_profile("gpt2-like")
    sc = splittui.Scenario(deadline_ms=1500)
    slots = sl.add_slot((), profile, sc, splittui.solve_all(profile, sc, solvers=("dp",)), name="a")
    return sl.slot_documents(slots)[0]


def test_experiments_export_refuses_every_way_out(jail):
    """The experiments' CSV/JSON prompt checks the typed path with `_new_file` before anything is written."""
    root, outside = jail
    for text in _attacks(outside):
        with pytest.raises((SplittuiError, ValueError)):
            _new_file(text)
    assert _new_file("exp.csv") == root / "exp.csv"
    assert _new_file(str(root / "sub" / "exp.json")) == root / "sub" / "exp.json"


def test_experiments_start_in_the_files_folder(jail):
    root, _ = jail
    screen = ExperimentsScreen(splittui.load_profile("gpt2-like"), Scenario(), requests=10)
    assert screen.export_dir == root


def test_the_served_slots_live_where_the_server_says(jail, tmp_path, monkeypatch):
    """Slots: the serve command points $SPLITTUI_DATA_DIR at its own per-server folder (see
    test_serve.py, end to end); the slot store follows it."""
    from splittui.tui.slot_store import slots_path

    monkeypatch.setenv(confine.DATA_DIR_ENV, str(tmp_path / "server-1"))
    assert slots_path() == tmp_path / "server-1" / "slots.json"
    assert os.environ[confine.FILES_ENV] != str(slots_path().parent)


def test_the_rule_is_pure():
    """The confinement module is core: no textual, rich or torch (the import-linter contract says so too)."""
    import subprocess
    import sys

    code = ("import sys, json, splittui.confine; "
            "print(json.dumps([m for m in ('textual', 'rich', 'torch') if m in sys.modules]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout + proc.stderr

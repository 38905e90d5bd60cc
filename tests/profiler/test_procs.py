"""Children that hold torch are forked from one server process that imported it once (profiler/procs.py)."""

from __future__ import annotations

import multiprocessing as mp
import sys

import pytest

from splittui.profiler.procs import PRELOAD, torch_context


def _report(conn) -> None:
    """The child's target: whether torch was already in the process when the target started."""
    conn.send({"torch_before_target": "torch" in sys.modules})


@pytest.mark.skipif("forkserver" not in mp.get_all_start_methods(), reason="forkserver is POSIX-only")
def test_children_are_forked_from_a_server_that_imported_torch():
    ctx = torch_context()
    assert ctx.get_start_method() == "forkserver" and "torch" in PRELOAD
    mine, theirs = ctx.Pipe()
    proc = ctx.Process(target=_report, args=(theirs,), daemon=True)
    proc.start()
    try:
        assert mine.poll(120), "the child never answered"
        got = mine.recv()
    finally:
        proc.join(10)
    assert got["torch_before_target"]   # torch came with the fork, not imported by the child
    assert proc.exitcode == 0


def test_without_forkserver_children_are_spawned(monkeypatch):
    monkeypatch.setattr(mp, "get_all_start_methods", lambda: ["spawn"])
    assert torch_context().get_start_method() == "spawn"


def test_a_planning_profile_made_now_starts_the_fork_server_first_unless_the_run_spawns(monkeypatch, tmp_path):
    """The run's fork server starts (`warm`) before the profile's separate process, so their torch imports
    overlap; a tier run (its processes spawned) starts none."""
    from splittui.runner import planning
    from splittui.runner.chains import ChainSpec

    monkeypatch.setenv("SPLITTUI_CACHE_DIR", str(tmp_path))
    calls: list[str] = []
    monkeypatch.setattr("splittui.profiler.procs.warm", lambda: calls.append("warm"))

    def profiler(cmd):
        calls.append("profile")
        raise planning.SplittuiError("stop here")

    monkeypatch.setattr(planning, "_run_profiler", profiler)
    for forks, want in ((True, ["warm", "profile"]), (False, ["profile"])):
        calls.clear()
        with pytest.raises(planning.SplittuiError, match="stop here"):
            planning.planning_profile(ChainSpec("runner-toy"), [16], 1, forks=forks, say=lambda _m: None)
        assert calls == want, forks

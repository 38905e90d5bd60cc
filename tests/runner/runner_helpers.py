"""What the runner tests share besides fixtures."""

from __future__ import annotations

from splittui.cli import main

__all__ = ["toy_plan"]


def toy_plan(tmp_path_factory, seqs: str, repeats: int):
    """A planning profile of the toy chain at `seqs`, made by `splittui profile` (as a user would)."""
    path = tmp_path_factory.mktemp("plan") / "toy.json"
    code = main(["profile", "--module", "splittui.runner.toy:build_toy", "--seq", seqs, "--server", "cpu:1",
                 "--repeats", str(repeats), "--out", str(path)])
    assert code == 0
    return path

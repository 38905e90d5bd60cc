"""What the runner tests share besides fixtures."""

from __future__ import annotations

import contextlib
import io
from types import SimpleNamespace

from splittui.cli import main

__all__ = ["DEFAULT_RUN", "run_main", "toy_plan"]

# `splittui run` of the toy chain with no --profile: it measures its planning profile in a separate
# `splittui profile` process and caches it (tests/runner/conftest.py runs it once: toy_default_run).
DEFAULT_RUN = ["run", "--model", "runner-toy", "--seq", "16", "--delay-ms", "1", "--up-mbps", "200", "--repeats", "2",
               "--solver", "no-split", "--link", "paced", "--profile-repeats", "1", "--json"]


def run_main(argv: list[str]) -> SimpleNamespace:
    """`main(argv)` with its stdout and stderr caught (for fixtures wider than a test, which have no capsys)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return SimpleNamespace(code=code, out=out.getvalue(), err=err.getvalue())


def toy_plan(tmp_path_factory, seqs: str, repeats: int):
    """A planning profile of the toy chain at `seqs`, made by `splittui profile` (as a user would)."""
    path = tmp_path_factory.mktemp("plan") / "toy.json"
    code = main(["profile", "--module", "splittui.runner.toy:build_toy", "--seq", seqs, "--server", "cpu:1",
                 "--repeats", str(repeats), "--out", str(path)])
    assert code == 0
    return path

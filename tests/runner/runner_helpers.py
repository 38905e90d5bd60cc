"""What the runner tests share besides fixtures."""

from __future__ import annotations

import contextlib
import io
from types import SimpleNamespace

from splittui.cli import main

__all__ = ["DEFAULT_RUN", "run_main", "toy_plan", "once_per_run"]

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


def toy_plan(folder, seqs: str, repeats: int):
    """A planning profile of the toy chain at `seqs`, made by `splittui profile` (as a user would), as
    `folder`/toy.json."""
    path = folder / "toy.json"
    code = main(["profile", "--module", "splittui.runner.toy:build_toy", "--seq", seqs, "--server", "cpu:1",
                 "--repeats", str(repeats), "--out", str(path)])
    assert code == 0
    return path


def once_per_run(tmp_path_factory, worker_id: str, name: str, make):
    """`make(folder)` once for the whole test run: pytest-xdist workers share a base folder, so the first
    worker to ask makes it (under a file lock) and the others read what it wrote (issue 31: each worker
    made its own, ~10-20 s of two processes importing torch). Without xdist, in this run's own folder."""
    from filelock import FileLock

    if worker_id == "master":
        folder = tmp_path_factory.mktemp(name)
        make(folder)
        return folder
    root = tmp_path_factory.getbasetemp().parent
    folder = root / name
    with FileLock(str(root / f"{name}.lock")):
        if not (folder / ".made").exists():
            folder.mkdir(exist_ok=True)
            make(folder)
            (folder / ".made").touch()
    return folder

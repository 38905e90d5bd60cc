"""What an app served to browsers may touch (`splittui serve`): files inside one folder, user code only
when the server allows it, one live profiling run at a time. Pure: no textual here.

The serve command tells each app process through its environment: ``SPLITTUI_SERVE_FILES`` is the folder
(its presence means "served"), ``SPLITTUI_SERVE_CODE=1`` allows running a user's Python, and
``SPLITTUI_SERVE_LOCK`` names the lock file the server's apps share for profiling. Outside serve mode
every function here lets everything through, so the terminal app is unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import SplittuiError

__all__ = ["FILES_ENV", "CODE_ENV", "LOCK_ENV", "files_root", "served", "code_allowed", "confine", "app_path",
           "profiling_slot", "user_data_dir"]

FILES_ENV = "SPLITTUI_SERVE_FILES"
CODE_ENV = "SPLITTUI_SERVE_CODE"
LOCK_ENV = "SPLITTUI_SERVE_LOCK"
DATA_DIR_ENV = "SPLITTUI_DATA_DIR"   # tui/slot_store.py's, restated: the core never imports the tui


def files_root() -> Path | None:
    """The folder a served app's files live in; None when the app is not served."""
    root = os.environ.get(FILES_ENV)
    return Path(root) if root else None


def served() -> bool:
    return files_root() is not None


def code_allowed() -> bool:
    """Whether the app may run a user's Python (a factory file): always in a terminal, served only with
    `serve --allow-code`."""
    return not served() or os.environ.get(CODE_ENV) == "1"


def confine(text: str | os.PathLike[str], root: Path, *, must_exist: bool = False) -> Path:
    """The file `text` names inside `root`, every symlink resolved; SplittuiError says why not.

    A relative path is taken from `root`; an absolute one must resolve inside it. ``~`` is refused (it
    would be the server's home), and so is anything ``..`` or a symlink leads out of `root`."""
    raw = os.fspath(text).strip()
    if not raw:
        raise SplittuiError("type a file name")
    if raw.startswith("~"):
        raise SplittuiError(f"{raw}: '~' is not allowed here; files live in the server's files folder ({root})")
    try:
        base = root.resolve(strict=True)
        path = (base / raw).resolve()
    except (OSError, RuntimeError, ValueError) as exc:   # a NUL byte, a symlink loop, a missing root
        raise SplittuiError(f"{raw!r}: not a usable path ({exc})") from None
    if path != base and base not in path.parents:
        raise SplittuiError(f"{raw}: outside the server's files folder ({base}); type a name inside it, "
                            "like x.json")
    if must_exist and not path.is_file():
        raise SplittuiError(f"{raw}: no such file in the server's files folder ({base})")
    return path


def app_path(text: str | os.PathLike[str], *, must_exist: bool = False) -> Path:
    """The path the app should use for `text`: confined to the files folder when served (SplittuiError
    when refused), else the typed path as is, with ``~`` expanded."""
    root = files_root()
    if root is None:
        return Path(text).expanduser()
    return confine(text, root, must_exist=must_exist)


@contextmanager
def profiling_slot() -> Iterator[bool]:
    """Hold the server's one profiling slot while the block runs; yields False when another app of the
    same server holds it (always True when not served, or where file locks are unavailable). The OS
    lets go of the lock when the process ends, so a killed app never keeps it."""
    lock = os.environ.get(LOCK_ENV)
    try:
        import fcntl
    except ImportError:   # not POSIX: no cross-process lock, so no limit
        fcntl = None      # type: ignore[assignment]
    if not served() or not lock or fcntl is None:
        yield True
        return
    with open(lock, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def user_data_dir() -> Path:
    """splittui's data folder: $SPLITTUI_DATA_DIR when set (tests), else the platform's user data dir."""
    base = os.environ.get(DATA_DIR_ENV)
    if not base:
        import platformdirs

        base = platformdirs.user_data_dir("splittui", appauthor=False)
    return Path(base).expanduser()

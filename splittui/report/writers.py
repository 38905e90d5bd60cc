"""File writers shared by the command line and the app: JSON and CSV through a temp file and a
rename, never over an existing file unless asked, and checks made before the slow part."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import SplittuiError
from .documents import clean

__all__ = ["write_json", "write_csv_atomic", "check_paths", "free_path"]


def write_json(path: str | os.PathLike[str], obj: Any, *, force: bool) -> Path:
    """`obj` made JSON-safe (`clean`), written atomically; refuses to replace a file unless force."""
    from ..profiles import write_json_atomic

    return write_json_atomic(path, clean(obj), force=force)


def write_csv_atomic(path: str | os.PathLike[str], rows: list[dict[str, Any]], *, force: bool = False) -> Path:
    """CSV through a temp file and a rename; refuses to replace a file unless force."""
    from ..profiles import write_text_atomic

    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(clean(rows))
    return write_text_atomic(path, buf.getvalue(), force=force)


def check_paths(paths: Iterable[str | None], *, force: bool) -> None:
    """Fail before the slow part when an output file would be refused (exists, or no directory)."""
    for path in paths:
        if path and Path(path).exists() and not force:
            raise SplittuiError(f"{path}: already exists (use --force to overwrite)")
        if path and not Path(path).resolve().parent.exists():
            raise SplittuiError(f"{path}: directory {Path(path).parent} does not exist")


def free_path(folder: Path, stem: str, ext: str) -> Path:
    """folder/stem.ext, or stem-2.ext, stem-3.ext, ...: never an existing file."""
    path, n = folder / f"{stem}.{ext}", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.{ext}"
    return path

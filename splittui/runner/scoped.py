"""`Scoped`: the runner's processes and links as context managers that undo a half-made start."""

from __future__ import annotations

from typing import TypeVar

__all__ = ["Scoped"]

S = TypeVar("S", bound="Scoped")


class Scoped:
    """`_open()` on entry, `close()` on exit; a failure inside `_open()` (Ctrl-C included) closes what it had
    made before it propagates, so no process or namespace outlives the run."""

    def _open(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: S) -> S:
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

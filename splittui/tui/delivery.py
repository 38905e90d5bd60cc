"""Files the app writes also reach a browser user: when the app is served (`splittui serve`), a written
export is offered as a download too (Textual's ``deliver_text``), since the file itself lands on the
server's disk, not the user's."""

from __future__ import annotations

from pathlib import Path

from textual.app import App

__all__ = ["offer_download"]


def offer_download(app: App, path: Path | str) -> bool:
    """Offer the file at `path` as a browser download when `app` runs in a browser; True if offered."""
    if not app.is_web:
        return False
    app.deliver_text(Path(path), encoding="utf-8")
    return True

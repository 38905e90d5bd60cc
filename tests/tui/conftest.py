"""Every app test keeps its saved slots in its own temporary folder, never in the real home."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _slots_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("SPLITTUI_DATA_DIR", str(tmp_path / "splittui-data"))

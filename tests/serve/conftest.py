"""The served apps (child processes inherit the environment) keep their slots in a temporary folder."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _slots_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("SPLITTUI_DATA_DIR", str(tmp_path / "splittui-data"))

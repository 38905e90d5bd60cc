"""What every test shares: apps opened in tests draw no animations, and numpy's BLAS runs one thread.

Textual's pilot waits for running animations after every key (a tab's underline slides for ~0.3 s); the
tests judge what a key leads to, not how it slides there, so apps made in tests start with animations
off (`TEXTUAL_ANIMATIONS=none`, the setting a user has too), and its idle checks sample shorter windows.
Issue 31: test time.
"""

from __future__ import annotations

import os
import sys

import pytest


@pytest.fixture(autouse=True)
def _no_animations(monkeypatch):
    import textual.constants

    monkeypatch.setattr(textual.constants, "TEXTUAL_ANIMATIONS", "none")


# As the CLI does (splittui/cli.py): numpy's BLAS runs one thread in every test process. Set here, before the
# pytest-xdist workers start, so that each worker's numpy reads it at import.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# This machine's image sets PYTHONDONTWRITEBYTECODE: every process the suite starts (the workers, each run,
# profile and served app, the fork servers) compiled splittui's modules from source again (~0.1 s for the app's
# imports alone). The suite lets them keep the bytecode in __pycache__ (ignored by git). Issue 31: test time.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False


@pytest.fixture(autouse=True)
def _quick_idle_checks(monkeypatch):
    """Textual's pilot waits after every key and pause until the process is idle, sampling its CPU time over
    windows of 20 ms (`textual._wait`): each wait costs at least one window. Tests sample 5 ms windows (the
    same idle test: under 1/20 of the window busy). What a test checks after a key it waits for explicitly
    (`tests/tui/tui_helpers.settle`: the latest knob change solved and shown), not for an idle CPU. Issue 31:
    the app tests 146 -> 108 s alone (`pytest tests/tui`, 2026-12-06)."""
    import textual._wait

    window = float(os.environ.get("SPLITTUI_TEST_IDLE_S", "0.005"))
    monkeypatch.setattr(textual._wait, "SLEEP_GRANULARITY", window)
    monkeypatch.setattr(textual._wait, "SLEEP_IDLE", window / 20)

"""What every test shares: apps opened in tests draw no animations, and numpy's BLAS runs one thread.

Textual's pilot waits for running animations after every key (a tab's underline slides for ~0.3 s); the
tests judge what a key leads to, not how it slides there, so apps made in tests start with animations
off (`TEXTUAL_ANIMATIONS=none`, the setting a user has too). Issue 31: test time.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _no_animations(monkeypatch):
    import textual.constants

    monkeypatch.setattr(textual.constants, "TEXTUAL_ANIMATIONS", "none")


# As the CLI does (splittui/cli.py): numpy's BLAS runs one thread in every test process. Set here, before the
# pytest-xdist workers start, so that each worker's numpy reads it at import.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
